"""Deterministic benchmark corpus: realistic zone-economy articles plus their truth.

usage: python -m bench.generate OUT_DIR [--docs N] [--seed S] [--plain] [--share FORM=X ...]

Writes ``OUT_DIR/inbox/<stem>.txt`` (``.html`` for an HTML article) with ``<stem>.meta.json``
(published_at, title, source_url), and ``OUT_DIR/truth/<stem>.jsonl`` in the gold format of
shared/spec/gold: the tier-1 facts, plus tier-2 rows for breakdowns (the parent indicator with
the breakdown as ``segment``), so that a reader finding those is not charged a false positive.
Each truth row also names in ``forms`` the new forms its statement was written in ("list/places",
"noise/pinyin" …; empty for the base shapes), which bench/score.py scores one by one.
The same (docs, seed, shares) always gives byte-identical files.

Each article follows the shape of real ones: a headline, navigation and byline lines,
a photo caption ending in 摄, fact paragraphs (level 亿元, yoy 增长/下降, share
占全市比重, diff 高于/低于全市 X 个百分点), a sentence broken across a blank line in
the middle of a word, a duplicated paragraph, an URL ad line and number-free filler.

A share of the articles (``SHARES``, each drawn on its own) also uses the forms of
FACT_MODEL's "Conventions" (issue 15):
  list    A、B、C分别增长x%、y%和z% (indicators or breakdowns); 完成A 100亿元、B 105亿元，
          分别增长x%、y%; 甲、乙、丙固定资产投资增速分别为x%、y%、z% (places of the gazetteer)
  noise   pinyin after traditional characters (經(jīng)濟(jì), 產【chǎn】), a tag inside the
          subject's name (两江</a></span>新区), spaces (ASCII and U+3000) and zero-width spaces
          between characters
  unit    amounts in 万元, 亿美元 and 万美元 (dollars stay dollars: unit USD)
  months  the period as a month range: 1至9月, 一至九月, 1~3月, 1月至6月
  table   a table of the article's indicators (指标|单位|绝对额|同比增长(%), caption above with
          subject and period): flattened into |-separated lines of a text article, or an
          HTML <table> in an .html article. A figure both in the text and in the table is one
          fact (the text's).

Only statements whose reading under FACT_MODEL is unambiguous are written. The vocabulary
(indicator surface forms, breakdowns, units, period words, zones, gazetteer places) is read
from transforms/vocab; this module only chooses which of it to write.
"""
from __future__ import annotations

import argparse
import csv
import html
import json
import random
import re
import shutil
import time
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VOCAB = ROOT / "transforms" / "vocab"


def _range_separator(separator: str) -> str:
    """``separator``, which the reader takes between the two ends of a range
    (transforms/vocab/range_separators.txt, the one list of them); an error if it does not."""
    listed = [line for line in (VOCAB / "range_separators.txt").read_text(encoding="utf-8").splitlines()
              if line.strip() and not line.startswith("#")]
    if separator not in listed:
        raise ValueError(f"{separator!r} is not a range separator of transforms/vocab/range_separators.txt")
    return separator


# the range separators written (months 1-11月, 1至9月, 1~3月): the reader's, chosen here
_DASH, _TO, _TILDE = _range_separator("-"), _range_separator("至"), _range_separator("~")

GENERATOR_VERSION = 3  # bump when the articles change: a cached corpus of another version is rebuilt
REVISED_SHARE = 0.01   # articles that state a revised figure: the conflicts a real stream has

# Share of articles written with each new form (independent draws; see the docstring).
LIST_SHARE = 0.12
NOISE_SHARE = 0.12
UNIT_SHARE = 0.12
MONTHS_SHARE = 0.12
# Tables are read (transforms/tables.py): flattened and HTML tables score 1.000 on the bench.
TABLE_SHARE = 0.12
SHARES = {"list": LIST_SHARE, "noise": NOISE_SHARE, "unit": UNIT_SHARE, "months": MONTHS_SHARE,
          "table": TABLE_SHARE}
HTML_SHARE_OF_TABLES = 0.5   # table articles that are HTML documents (the rest flatten the table)
NOISY_CLAUSE_SHARE = 0.6     # clauses of a noise article that carry noise

# The tier-1 indicators written about a zone (surface forms from indicators.csv).
INDICATORS = ("gdp", "exports", "imports", "foreign_trade", "fixed_asset_investment",
              "industrial_value_added_above_scale", "retail_sales", "industrial_investment",
              "general_budget_revenue", "utilized_foreign_capital")
# indicators stated only as growth (a level would be unusual in the press)
GROWTH_ONLY = {"fixed_asset_investment", "industrial_value_added_above_scale", "industrial_investment"}
# indicators whose amounts the press states in dollars as often as in yuan
DOLLAR_INDICATORS = {"exports", "imports", "foreign_trade", "utilized_foreign_capital"}
# what lists of places compare (a growth rate every city reports)
PLACE_INDICATORS = ("gdp", "fixed_asset_investment", "industrial_value_added_above_scale", "retail_sales")
# surface forms never written of a zone: 国内生产总值 is the national account, a reader would
# rightly take it as China's
NOT_OF_A_ZONE = {"国内生产总值"}

# The period of a base article: period words (months from periods.csv) and one month range.
BASE_PERIODS = ("一季度", "上半年", "前三季度", f"1{_DASH}11月", "全年")
CN_MONTH = "一二三四五六七八九十"
# month-range styles of the months form; the end month is drawn from 2..11
MONTH_STYLES = {
    f"1{_TO}N月": lambda m: f"1{_TO}{m}月",
    f"一{_TO}N月": lambda m: f"一{_TO}{_cn_month(m)}月",
    f"1{_TILDE}N月": lambda m: f"1{_TILDE}{m}月",
    f"1月{_TO}N月": lambda m: f"1月{_TO}{m}月",
}
NOISE_KINDS = ("pinyin", "tag", "space", "zwsp")
# Readings of the characters that pinyin noise annotates (pypinyin is not a dependency; these
# are the characters of the indicator names and cues the clauses are made of).
PINYIN = dict(zip(
    "地区生产总值出口额进外贸固定资投规模以上工业增加社会消费品零售一般公共预算收入实际使用同比长下降"
    "占全市重达高于低个百分点亿元万美经济别完成现速为",
    "dì qū shēng chǎn zǒng zhí chū kǒu é jìn wài mào gù dìng zī tóu guī mó yǐ shàng gōng yè zēng jiā "
    "shè huì xiāo fèi pǐn líng shòu yī bān gōng gòng yù suàn shōu rù shí jì shǐ yòng tóng bǐ zhǎng xià "
    "jiàng zhàn quán shì zhòng dá gāo yú dī gè bǎi fēn diǎn yì yuán wàn měi jīng jì bié wán chéng xiàn "
    "sù wéi".split()))
PINYIN_BRACKETS = ("()", "【】", "（）")
NAME_TAGS = ("</a></span>", "</span>", '<font color="#333">')
TABLE_HEADER = ("指标", "单位", "绝对额", "同比增长(%)")
NO_FIGURE = "—"

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ["晓川", "雨桐", "建国", "海燕", "志强", "丽华", "文博", "思远", "佳怡", "明轩", "子涵", "国栋"]
FILLER = [
    "当前，经济运行总体平稳、稳中有进，新动能加快成长，高质量发展扎实推进。",
    "区内重点企业生产经营持续向好，产业链供应链韧性进一步增强。",
    "下一步，将坚持稳中求进工作总基调，聚焦主导产业，持续优化营商环境，推动经济持续回升向好。",
    "园区坚持项目为王，强化要素保障，推动一批重大项目加快建设、早日投产。",
    "与此同时，消费市场逐步回暖，新业态新模式不断涌现，居民消费意愿有所提升。",
    "业内人士认为，随着各项稳增长政策持续发力，全年经济有望保持平稳增长态势。",
    "科技创新动能持续释放，企业研发投入稳步提高，创新生态不断完善。",
    "外贸企业积极开拓新兴市场，跨境电商等新业态保持较快发展。",
]
SECTION_OPENERS = ["从产业看，", "从需求看，", "从开放看，", "分领域看，", "从财政看，"]


# --------------------------------------------------------------------------- vocabulary


def _rows(name: str) -> list[dict]:
    with (VOCAB / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def _writable(form: str) -> bool:
    """A form written as is: not a pattern with a gap (…), nor one with brackets that the
    reader folds (the segment would not be verbatim)."""
    return bool(form) and "…" not in form and not re.search(r"[()（）]", form)


class Vocab:
    """What the generator writes, from transforms/vocab."""

    def __init__(self) -> None:
        forms = {r["code"]: r["surface_forms"].split("|") for r in _rows("indicators.csv")}
        self.forms = {code: [f for f in forms[code] if _writable(f) and f not in NOT_OF_A_ZONE]
                      for code in INDICATORS}
        self.breakdowns: dict[str, list[str]] = {}
        for r in _rows("breakdowns.csv"):
            if _writable(r["surface_form"]):
                self.breakdowns.setdefault(r["parent"], []).append(r["surface_form"])
        self.units = {r["unit"]: (Decimal(r["factor"]), r["normalized"]) for r in _rows("units.csv")
                      if r["kind"] == "money"}
        self.months = {r["word"]: (int(r["start_month"]), int(r["end_month"])) for r in _rows("periods.csv")
                       if r["start_month"] and r["end_month"]}
        entities = _rows("entities.csv")
        types = {r["name"]: r["entity_type"] for r in entities}
        # zones whose parent is a city: 全市 then names that city
        self.zones = [(r["name"], r["parent"]) for r in entities
                      if r["entity_type"] == "zone" and types.get(r["parent"]) == "city"]
        # a place that is also a zone (两江新区) is written as the zone, never listed as a place
        zone_names = {n for r in entities if r["entity_type"] in ("zone", "area")
                      for n in [r["name"], *r["aliases"].split("|")] if n}
        self.places = [p for p in _places() if p["name"] not in zone_names and p["surface"] not in zone_names]

    def period(self, label: str) -> tuple[int, int]:
        if label in self.months:
            return self.months[label]
        m = re.fullmatch(rf"1{re.escape(_DASH)}(\d+)月", label)   # the base corpus's numeric range
        return 1, int(m.group(1))

    def siblings(self, city: str) -> list[tuple[str, str, str]]:
        """(surface, canonical, entity_type) of the places a report on ``city`` compares it with:
        the other cities of its province, or the districts of a municipality."""
        rows = self.places
        parent = next((r["parent"] for r in rows if r["name"] == city), None)
        if parent is None:
            return []
        group = [r for r in rows if r["parent"] == parent and r["name"] != city] if parent != "中国" \
            else [r for r in rows if r["parent"] == city]
        return [(r["surface"], r["name"], r["entity_type"]) for r in group]


def _places() -> list[dict]:
    """Gazetteer places one name denotes (canonical = full name, current), with the short form
    the gazetteer lists as unique (宜宾 for 宜宾市) as the surface written, else the full name."""
    if not (VOCAB / "gazetteer.csv").exists():
        return []
    out = []
    for r in _rows("gazetteer.csv"):
        if r["status"] != "current" or r["name"] != r["full_name"] or r["entity_type"] == "province":
            continue
        aliases = [a for a in r["aliases"].split("|") if a]
        out.append({"name": r["name"], "entity_type": r["entity_type"], "parent": r["parent"],
                    "surface": aliases[0] if aliases else r["name"]})
    return out


@lru_cache(maxsize=1)
def _converters():
    import opencc

    return opencc.OpenCC("s2t"), opencc.OpenCC("t2s")


def _traditional(text: str) -> str:
    """``text`` in traditional script when that reads back to it character for character."""
    s2t, t2s = _converters()
    trad = s2t.convert(text)
    return trad if len(trad) == len(text) and t2s.convert(trad) == text else text


def _cn_month(m: int) -> str:
    return CN_MONTH[m - 1] if m <= 10 else "十" + CN_MONTH[m - 11]


# --------------------------------------------------------------------------- noise


def _gaps(text: str, ok) -> list[int]:
    """Positions between two characters where ``ok(left, right)``."""
    return [i for i in range(1, len(text)) if ok(text[i - 1], text[i])]


def _han(c: str) -> bool:
    return "\u4e00" <= c <= "\u9fff"


def _spaceable(left: str, right: str) -> bool:
    # between characters, or between a character and a figure; never inside a number
    # (two numbers with a space between are two numbers)
    return (_han(left) and (_han(right) or right.isdigit())) or (left.isdigit() and _han(right)) \
        or (left.isdigit() and right == "%")


def noise_pinyin(rng: random.Random, text: str) -> str:
    """Traditional script, with the reading after some characters: 經(jīng)濟(jì)."""
    trad = _traditional(text)
    spots = [i for i, c in enumerate(text) if c in PINYIN]
    chosen = set(rng.sample(spots, min(len(spots), rng.randint(1, 4))))
    left, right = rng.choice(PINYIN_BRACKETS)
    return "".join(c + (f"{left}{PINYIN[text[i]]}{right}" if i in chosen else "") for i, c in enumerate(trad))


def _insert(text: str, at: list[int], mark) -> str:
    out, last = [], 0
    for i in sorted(at):
        out += [text[last:i], mark()]
        last = i
    return "".join(out + [text[last:]])


def noise_space(rng: random.Random, text: str) -> str:
    """Spaces between characters: every character of a stretch spaced out (ASCII), or a few
    full-width ones."""
    gaps = _gaps(text, _spaceable)
    if not gaps:
        return text
    if rng.random() < 0.5:
        start = rng.randrange(len(gaps))
        run = [g for g in gaps[start:start + rng.randint(2, 6)]]
        return _insert(text, run, lambda: " ")
    return _insert(text, rng.sample(gaps, min(len(gaps), rng.randint(1, 3))), lambda: "\u3000")


def noise_zwsp(rng: random.Random, text: str) -> str:
    gaps = _gaps(text, _spaceable)
    return _insert(text, rng.sample(gaps, min(len(gaps), rng.randint(1, 4))), lambda: "\u200b")


def noise_tag(rng: random.Random, name: str) -> str:
    """Link markup left inside a name: 两江</a></span>新区."""
    at = rng.randint(1, len(name) - 1)
    return name[:at] + rng.choice(NAME_TAGS) + name[at:]


CLAUSE_NOISE = {"pinyin": noise_pinyin, "space": noise_space, "zwsp": noise_zwsp}


# --------------------------------------------------------------------------- figures


def _money(rng: random.Random, lo: float, hi: float) -> tuple[str, int]:
    """A level in 亿元 with one decimal: (text, value in yuan)."""
    tenths = rng.randint(int(lo * 10), int(hi * 10))
    return f"{tenths // 10}.{tenths % 10}", tenths * 10_000_000


def _pct(rng: random.Random, lo: float, hi: float) -> tuple[str, float]:
    tenths = rng.randint(int(lo * 10), int(hi * 10))
    return f"{tenths // 10}.{tenths % 10}", tenths / 10


def _tenths_in(unit: str, tenths: int) -> str:
    """``tenths`` of 亿 written in ``unit`` (亿… with one decimal, 万… as an integer)."""
    return f"{tenths // 10}.{tenths % 10}" if unit.startswith("亿") else str(tenths * 1000)


def _join(items: list[str], rng: random.Random) -> str:
    """A、B、C or A、B和C."""
    if len(items) > 2 and rng.random() < 0.5 or len(items) == 2 and rng.random() < 0.5:
        return "、".join(items[:-1]) + "和" + items[-1]
    return "、".join(items)


# --------------------------------------------------------------------------- articles


class Article:
    """One article being written: its subject, period and forms, and the facts it states."""

    def __init__(self, rng: random.Random, forms: random.Random, vocab: Vocab, zone: str, city: str,
                 shares: dict[str, float]):
        self.rng, self.vocab, self.zone, self.city = rng, vocab, zone, city
        self.label = rng.choice(BASE_PERIODS)
        self.start, self.end = vocab.period(self.label)
        pub_month = None if self.end == 12 else self.end + 1   # 全年 comes out next January
        self.year = rng.randint(2019, 2025)
        self.edition = "revised" if rng.random() < REVISED_SHARE else "first"
        self.explicit_year = pub_month is None or rng.random() < 0.4
        if pub_month is None:
            self.published = f"{self.year + 1}-01-{rng.randint(10, 28):02d}"
        else:
            self.published = f"{self.year}-{pub_month:02d}-{rng.randint(10, 28):02d}"
        # the new forms: drawn from their own stream, so the articles without them are the
        # same whatever the shares
        self.forms = forms
        on = {name: forms.random() < share for name, share in sorted(shares.items())}
        self.lists, self.units, self.table = on.get("list", False), on.get("unit", False), on.get("table", False)
        html_draw = forms.random() < HTML_SHARE_OF_TABLES   # drawn always: the forms after it stay put
        self.html = self.table and html_draw
        self.tags: list[str] = []
        self.para_tags: list[str] = []   # the forms of the paragraph being written
        self.tagged = False
        if on.get("months"):
            style = forms.choice(sorted(MONTH_STYLES))
            end = forms.randint(2, 11)
            self.label, self.start, self.end = MONTH_STYLES[style](end), 1, end
            self.published = f"{self.year}-{end + 1:02d}-{forms.randint(10, 28):02d}"
            self.tags.append(f"months/{style}")
        kinds = [k for k in NOISE_KINDS if not (k == "tag" and self.html)]   # markup is no noise in HTML
        self.noise = sorted(forms.sample(kinds, forms.randint(1, 2))) if on.get("noise") else []
        self.facts: list[dict] = []

    def figures(self, key: str) -> random.Random:
        """The figures of one subject, period and indicator: every article reporting them agrees
        (but a revised one), as real reports of one statistical release do."""
        return random.Random(f"{key}|{self.year}|{self.label}|{self.edition}")

    def period(self) -> str:
        return f"{self.year}年{self.label}" if self.explicit_year else self.label

    # ---- truth

    def row(self, indicator: str, measure: str, value, *, benchmark: str | None = None, unit: str | None = None,
            entity: str | None = None, entity_type: str = "zone", segment: str | None = None,
            forms: list[str] = ()) -> dict:
        unit = unit or {"level": "CNY", "yoy_pct": "percent", "share_pct": "percent", "diff_pp": "pp"}[measure]
        return {
            "entity": entity or self.zone, "entity_alt": [], "entity_type": entity_type, "year": self.year,
            "start_month": self.start, "end_month": self.end, "indicator": indicator, "segment": segment,
            "measure": measure, "value": value, "unit": unit, "qualifier": "exact", "benchmark": benchmark,
            # a breakdown is tier 2 (FACT_MODEL "Conventions")
            "tier": 2 if segment else 1, "evidence": None, "forms": list(forms),
        }

    def say(self, text: str, rows: list[dict], noisy: bool = True) -> str:
        """Write ``text`` (with noise, in a noise article) and record ``rows`` with it as evidence."""
        tags = self.tags + self.para_tags
        kinds = [k for k in self.noise if k in CLAUSE_NOISE]
        if noisy and kinds and self.forms.random() < NOISY_CLAUSE_SHARE:
            kind = self.forms.choice(kinds)
            text = CLAUSE_NOISE[kind](self.forms, text)
            tags = tags + [f"noise/{kind}"]
        for r in rows:
            r["evidence"] = text
            r["forms"] = sorted(set(r["forms"]) | set(tags))
            self.facts.append(r)
        return text

    def subject(self) -> str:
        """The zone's name opening a paragraph; in a noise article, once with a tag inside it."""
        self.para_tags = []
        if "tag" in self.noise and not self.tagged:
            self.tagged = True
            self.para_tags = ["noise/tag"]
            return noise_tag(self.forms, self.zone)
        return self.zone

    def truth(self) -> list[dict]:
        """The facts once each: a figure stated twice (text and table) is one fact, the first."""
        seen: dict[tuple, object] = {}
        out = []
        for r in self.facts:
            key = tuple(r[k] for k in ("entity", "year", "start_month", "end_month", "indicator", "segment",
                                       "measure", "unit", "benchmark"))
            if key in seen:
                assert seen[key] == r["value"], f"two values for {key}"
                continue
            seen[key] = r["value"]
            out.append(r)
        return out

    # ---- statements

    def level(self, indicator: str, lt: str, lv: int) -> tuple[str, int, str, list[str]]:
        """The level as written: (number + unit word, value in units, unit code, form tags)."""
        if not self.units:
            return f"{lt}亿元", lv, "CNY", []
        if indicator in DOLLAR_INDICATORS:
            # dollars are their own figures (never a conversion of the yuan ones)
            tenths = self.figures(f"{self.zone}|{indicator}|USD").randint(5, 4000)
            word = self.forms.choice(["亿美元", "万美元"])
        else:
            tenths, word = lv // 10_000_000, "万元"
        number = _tenths_in(word, tenths)
        factor, unit = self.vocab.units[word]
        return number + word, int(Decimal(number) * factor), unit, [f"unit/{'USD' if unit == 'USD' else word}"]

    def draw(self, indicator: str) -> dict:
        """The figures of ``indicator`` for the zone, drawn in one order whatever is written."""
        figures = self.figures(f"{self.zone}|{indicator}")
        if indicator == "gdp":   # the lead's: a zone's GDP grows, and it is large
            lt, lv = _money(figures, 100, 3000)
            yt, yv = _pct(figures, 1, 12)
            dt, dv = _pct(figures, 0.1, 5)
            return {"lt": lt, "lv": lv, "yt": yt, "yv": yv, "down": False, "dt": dt, "dv": dv, "above": True}
        lt, lv = _money(figures, 20, 3000)
        yt, yv = _pct(figures, 0.5, 25)
        down = figures.random() < 0.15
        st, sv = _pct(figures, 5, 80)
        dt, dv = _pct(figures, 0.1, 9.9)
        above = figures.random() < 0.7
        return {"lt": lt, "lv": lv, "yt": yt, "yv": -yv if down else yv, "down": down, "st": st, "sv": sv,
                "dt": dt, "dv": dv if above else -dv, "above": above}

    def clause(self, indicator: str) -> str:
        """One statement about ``indicator``; records its facts."""
        rng = self.rng
        form = rng.choice(self.vocab.forms[indicator])
        shape = rng.randrange(5)
        if indicator in GROWTH_ONLY and shape in (0, 2):
            shape = 1
        f = self.draw(indicator)
        grow = f"同比下降{f['yt']}%" if f["down"] else f"同比增长{f['yt']}%"
        yoy = self.row(indicator, "yoy_pct", f["yv"])
        if shape in (0, 2):     # level + yoy (+ share of the city)
            amount, value, unit, tags = self.level(indicator, f["lt"], f["lv"])
            rows = [self.row(indicator, "level", value, unit=unit, forms=tags), yoy]
            yoy["forms"] = tags
            text = f"{form}{amount}，{grow}"
            if shape == 2:
                text += f"，占全市比重达{f['st']}%"
                rows.append(self.row(indicator, "share_pct", f["sv"], benchmark=self.city, forms=tags))
        elif shape == 1:        # yoy only
            text, rows = f"{form}{grow}", [yoy]
        else:                   # yoy + diff against the city
            text = f"{form}{grow}，{'高于' if f['above'] else '低于'}全市{f['dt']}个百分点"
            rows = [yoy, self.row(indicator, "diff_pp", f["dv"], benchmark=self.city)]
        return self.say(text, rows)

    def growth_list(self, indicators: list[str]) -> str:
        """A、B、C分别增长x%、y%和z%."""
        forms = [self.rng.choice(self.vocab.forms[i]) for i in indicators]
        rates = [self.draw(i) for i in indicators]
        verb = self.forms.choice(["分别增长", "分别同比增长"])
        text = f"{_join(forms, self.forms)}{verb}{_join([r['yt'] + '%' for r in rates], self.forms)}"
        rows = [self.row(i, "yoy_pct", r["yv"], forms=["list/indicators"]) for i, r in zip(indicators, rates)]
        return self.say(text, rows)

    def level_list(self, indicators: list[str]) -> str:
        """完成A 100亿元、B 105亿元，分别增长x%、y%: the rates take the indicators named before them."""
        rows, parts, rates = [], [], []
        for i in indicators:
            f = self.draw(i)
            amount, value, unit, tags = self.level(i, f["lt"], f["lv"])
            parts.append(self.rng.choice(self.vocab.forms[i]) + amount)
            rates.append(f["yt"] + "%")
            rows.append(self.row(i, "level", value, unit=unit, forms=["list/levels", *tags]))
            rows.append(self.row(i, "yoy_pct", f["yv"], forms=["list/levels", *tags]))
        verb = self.forms.choice(["完成", "实现"])
        return self.say(f"{verb}{'、'.join(parts)}，分别增长{_join(rates, self.forms)}", rows)

    def breakdown_list(self) -> str | None:
        """Breakdowns of one indicator: the parent with the breakdown as segment (tier 2)."""
        parents = sorted(self.vocab.breakdowns)
        parent = self.forms.choice(parents)
        forms = self.vocab.breakdowns[parent]
        picked: list[str] = []   # none inside another (技改投资, 工业技改投资): two readings
        for form in self.forms.sample(forms, len(forms)):
            if not any(form in p or p in form for p in picked):
                picked.append(form)
            if len(picked) == 3:
                break
        if len(picked) < 2:
            return None
        rates = [_pct(self.figures(f"{self.zone}|{form}"), 0.5, 25) for form in picked]
        text = f"{_join(picked, self.forms)}分别增长{_join([t + '%' for t, _ in rates], self.forms)}"
        rows = [self.row(parent, "yoy_pct", v, segment=form, forms=["list/breakdowns"])
                for form, (_, v) in zip(picked, rates)]
        return self.say(text, rows)

    def place_list(self) -> str | None:
        """甲、乙、丙固定资产投资增速分别为x%、y%、z%: the k-th rate is the k-th place's."""
        places = self.vocab.siblings(self.city)
        if len(places) < 3:
            return None
        picked = self.forms.sample(places, self.forms.randint(2, 4))
        indicator = self.forms.choice(PLACE_INDICATORS)
        form = self.forms.choice(self.vocab.forms[indicator])
        rates = [_pct(self.figures(f"{name}|{indicator}"), 0.5, 15) for _, name, _ in picked]
        numbers = [t + "%" for t, _ in rates]
        if self.forms.random() < 0.5:
            text = f"{_join([s for s, _, _ in picked], self.forms)}{form}增速分别为{'、'.join(numbers)}"
        else:
            text = f"{_join([s for s, _, _ in picked], self.forms)}{form}分别增长{_join(numbers, self.forms)}"
        rows = [self.row(indicator, "yoy_pct", v, entity=name, entity_type=etype, forms=["list/places"])
                for (_, name, etype), (_, v) in zip(picked, rates)]
        return self.say(text, rows)

    def table_rows(self, indicators: list[str], kind: str) -> tuple[str, list[list[str]]]:
        """A caption and the rows of a table of ``indicators`` (header first); records their facts."""
        caption = f"{self.zone}{self.year}年{self.label}主要经济指标"
        cells = [list(TABLE_HEADER)]
        for i in indicators:
            f = self.draw(i)
            label = self.forms.choice(self.vocab.forms[i])
            rows = [self.row(i, "yoy_pct", f["yv"], forms=[f"table/{kind}"])]
            if i in GROWTH_ONLY:
                unit_word, amount = "亿元", NO_FIGURE
            else:
                written, value, unit, tags = self.level(i, f["lt"], f["lv"])
                unit_word = re.sub(r"^[0-9.]+", "", written)
                amount = written[: -len(unit_word)]
                rows.append(self.row(i, "level", value, unit=unit, forms=[f"table/{kind}", *tags]))
                rows[0]["forms"] += tags
            cells.append([label, unit_word, amount, f"{f['yv']:.1f}"])
            for r in rows:   # the evidence of a row is the row as a line
                r["evidence"] = "|".join(cells[-1])
                r["forms"] = sorted(set(r["forms"]) | set(self.tags))
                self.facts.append(r)
        return caption, cells


def _html_document(lines: list[str], title: str, published: str, table: tuple[str, list[list[str]]]) -> str:
    caption, cells = table
    head = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cells[0]) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>\n" for row in cells[1:])
    table_html = f'<table border="1">\n<caption>{html.escape(caption)}</caption>\n{head}\n{body}</table>'
    paras = []
    for n, line in enumerate(lines[3:]):
        paras += [f"<p>{html.escape(part)}</p>" for part in line.split("\n\n")]
        if n == 1:
            paras.append(table_html)
    return (f'<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n"
            f'<meta name="pubdate" content="{published}">\n</head>\n<body>\n'
            f'<div class="nav">{html.escape(lines[1])}</div>\n<h1>{html.escape(title)}</h1>\n'
            f'<p class="byline">{html.escape(lines[2])}</p>\n' + "\n".join(paras) + "\n</body>\n</html>\n")


def article(rng: random.Random, forms: random.Random, vocab: Vocab,
            shares: dict[str, float]) -> tuple[str, str, dict, list[dict]]:
    """(text, suffix, sidecar, truth rows) of one article."""
    zone, city = rng.choice(vocab.zones)
    a = Article(rng, forms, vocab, zone, city, shares)
    indicators = [i for i in INDICATORS if i != "gdp"]
    rng.shuffle(indicators)
    chosen = indicators[:rng.randint(4, 7)]
    reporter = rng.choice(SURNAMES) + rng.choice(GIVEN)
    lines = [
        f"{zone}{a.label}经济运行稳中有进",
        "首页 » 新闻 » 经济",
        f"本报记者 {reporter}",
    ]
    # GDP lead, broken across a blank line in the middle of 地区生产总值
    g = a.draw("gdp")
    lt, lv, yt, yv, dt, dv = g["lt"], g["lv"], g["yt"], g["yv"], g["dt"], g["dv"]
    lines.append(f"{a.period()}，{zone}坚持稳中求进，实现地区生产\n\n总值{lt}亿元，同比增长{yt}%，"
                 f"增速高于全市{dt}个百分点。")
    a.say(f"地区生产总值{lt}亿元，同比增长{yt}%，增速高于全市{dt}个百分点",
          [a.row("gdp", "level", lv), a.row("gdp", "yoy_pct", yv), a.row("gdp", "diff_pp", dv, benchmark=city)],
          noisy=False)
    lines.append(rng.choice(FILLER))
    paras: list[str] = []
    rest = chosen
    if a.lists:
        # one paragraph states several indicators as a list (their rates are all growth:
        # 分别增长 gives no sign to a fall)
        rising = [i for i in chosen if not a.draw(i)["down"]]
        with_level = [i for i in rising if i not in GROWTH_ONLY]
        if len(with_level) >= 2 and forms.random() < 0.4:
            listed = with_level[:2]
            statement = a.level_list
        else:
            listed = rising[:forms.randint(2, 3)]
            statement = a.growth_list
        if len(listed) >= 2:
            paras.append(f"{rng.choice(SECTION_OPENERS)}{a.period()}，{a.subject()}{statement(listed)}。")
            rest = [i for i in chosen if i not in listed]
    for start in range(0, len(rest), 2):
        group = rest[start:start + 2]
        opener = rng.choice(SECTION_OPENERS)
        head = f"{opener}{a.period()}，{a.subject()}"
        paras.append(head + "；".join(a.clause(i) for i in group) + "。")
    if a.lists:
        a.para_tags = []
        sentence = a.breakdown_list() if forms.random() < 0.5 else None
        if sentence:
            paras.append(f"{a.period()}，{a.zone}{sentence}。")
        sentence = a.place_list() if forms.random() < 0.6 else None
        if sentence:
            paras.append(f"{a.period()}，{sentence}。")
    lines.append(paras[0])
    lines.append(f"图为{zone}的一处产业园区。记者 {reporter} 摄")
    lines.extend(paras[1:])
    table = None
    if a.table:
        # the article's indicators and a few it does not state in the text
        listed = ["gdp"] + [i for i in INDICATORS if i != "gdp" and (i in chosen or forms.random() < 0.3)]
        table = a.table_rows(listed, "html" if a.html else "flat")
        if not a.html:
            caption, cells = table
            lines.append("\n".join([caption] + ["|".join(row) for row in cells]))
    lines.append(rng.choice(FILLER) + rng.choice(FILLER))
    lines.append(rng.choice(paras))       # a duplicated paragraph (stated once in the truth)
    lines.append(f"更多资讯请访问 https://news.example.com/{rng.randint(1000, 9999)}.html")
    while sum(len(x.encode("utf-8")) for x in lines) < 2100:
        lines.append(rng.choice(FILLER) + rng.choice(FILLER) + rng.choice(FILLER))
    meta = {"published_at": a.published, "title": lines[0],
            "source_url": f"https://news.example.com/a/{rng.randint(10**6, 10**7)}"}
    if a.html:
        return _html_document(lines, lines[0], a.published, table), ".html", meta, a.truth()
    return "\n\n".join(lines) + "\n", ".txt", meta, a.truth()


def generate(out: Path, docs: int, seed: int = 6, shares: dict[str, float] | None = None) -> dict:
    started = time.perf_counter()
    shares = dict(SHARES if shares is None else shares)
    vocab = Vocab()
    inbox, truth = out / "inbox", out / "truth"
    inbox.mkdir(parents=True, exist_ok=True)
    truth.mkdir(parents=True, exist_ok=True)
    width = max(5, len(str(docs - 1)))
    total_bytes = tier1 = rows_total = 0
    per_form: dict[str, int] = {}
    for n in range(docs):
        # one stream per article for its content and one for its forms: an article reads the
        # same with the forms on or off, but for the forms themselves
        text, suffix, meta, rows = article(random.Random(f"{seed}|{n}"), random.Random(f"{seed}|{n}|forms"),
                                           vocab, shares)
        stem = f"art_{n:0{width}d}"
        # every statement of the truth is in the article as written (but for the lead's line break;
        # an HTML table's rows are cells)
        flat = text.replace("\n\n", "").replace("</p>\n<p>", "")
        assert all(r["evidence"] in flat for r in rows if "table/html" not in r["forms"]), stem
        data = text.encode("utf-8")
        total_bytes += len(data)
        tier1 += sum(r["tier"] == 1 for r in rows)
        rows_total += len(rows)
        for r in rows:
            for tag in r["forms"] or ["base"]:
                per_form[tag] = per_form.get(tag, 0) + 1
        (inbox / f"{stem}{suffix}").write_bytes(data)
        (inbox / f"{stem}.meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        (truth / f"{stem}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    info = {"docs": docs, "seed": seed, "version": GENERATOR_VERSION, "shares": shares, "bytes": total_bytes,
            "facts": tier1, "rows": rows_total, "forms": dict(sorted(per_form.items())),
            "seconds": round(time.perf_counter() - started, 2)}
    (out / "corpus.json").write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
    return info


def ensure(out: Path, docs: int, seed: int = 6, shares: dict[str, float] | None = None) -> dict:
    """Generate unless ``out`` already holds this exact corpus."""
    shares = dict(SHARES if shares is None else shares)
    marker = out / "corpus.json"
    if marker.exists():
        info = json.loads(marker.read_text(encoding="utf-8"))
        if (info.get("docs"), info.get("seed"), info.get("version"), info.get("shares")) == (
                docs, seed, GENERATOR_VERSION, shares):
            return info
    shutil.rmtree(out, ignore_errors=True)
    return generate(out, docs, seed, shares)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--plain", action="store_true", help="no new forms (every share 0)")
    parser.add_argument("--share", action="append", default=[], metavar="FORM=X",
                        help=f"override a share ({', '.join(SHARES)})")
    args = parser.parse_args()
    shares = {k: 0.0 for k in SHARES} if args.plain else dict(SHARES)
    for item in args.share:
        name, _, value = item.partition("=")
        if name not in SHARES:
            parser.error(f"unknown form {name!r}")
        shares[name] = float(value)
    print(json.dumps(generate(args.out, args.docs, args.seed, shares), ensure_ascii=False))


if __name__ == "__main__":
    main()
