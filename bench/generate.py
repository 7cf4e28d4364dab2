"""Deterministic benchmark corpus: realistic zone-economy articles plus their tier-1 truth.

usage: python -m bench.generate OUT_DIR [--docs N] [--seed S]

Writes ``OUT_DIR/inbox/<stem>.txt`` (+ ``<stem>.meta.json`` with published_at) and
``OUT_DIR/truth/<stem>.jsonl`` in the gold format of shared/spec/gold (tier 1 only).
The same (docs, seed) always gives byte-identical files.

Each article follows the shape of real ones: a headline, navigation and byline lines,
a photo caption ending in 摄, fact paragraphs (level 亿元, yoy 增长/下降, share
占全市比重, diff 高于/低于全市 X 个百分点), a sentence broken across a blank line in
the middle of a word, a duplicated paragraph, an URL ad line and number-free filler.
Only sentence shapes the extractor supports are generated (tests/transforms/
test_extract_patterns.py); the truth is the contract they are checked against.
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VOCAB = ROOT / "transforms" / "vocab"

# Tier-1 indicators and the surface forms used for them (all listed in indicators.csv;
# the ones chosen are unambiguous as a sentence subject).
INDICATOR_FORMS = {
    "gdp": ["地区生产总值", "GDP", "经济总量"],
    "exports": ["出口总额", "出口额"],
    "imports": ["进口总额", "进口额"],
    "foreign_trade": ["外贸进出口总额", "进出口总额", "货物进出口总值"],
    "fixed_asset_investment": ["固定资产投资", "全社会固定资产投资"],
    "industrial_value_added_above_scale": ["规模以上工业增加值", "规上工业增加值"],
    "retail_sales": ["社会消费品零售总额", "社零总额"],
    "industrial_investment": ["工业投资"],
    "general_budget_revenue": ["一般公共预算收入"],
    "utilized_foreign_capital": ["实际使用外资", "实际利用外资"],
}
# indicators stated only as growth (a level would be unusual in the press)
GROWTH_ONLY = {"fixed_asset_investment", "industrial_value_added_above_scale", "industrial_investment"}

# (label in text, start_month, end_month, publication month in the same year or None = next January)
PERIODS = [
    ("一季度", 1, 3, 4),
    ("上半年", 1, 6, 7),
    ("前三季度", 1, 9, 10),
    ("1-11月", 1, 11, 12),
    ("全年", 1, 12, None),
]

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


def _zones() -> list[tuple[str, str]]:
    """(zone, parent city) pairs from the vocabulary: zones whose parent is a city."""
    rows = [r for r in csv.reader(line for line in (VOCAB / "entities.csv").open(encoding="utf-8")
                                  if not line.startswith("#"))]
    header, rows = rows[0], rows[1:]
    types = {r[0]: r[1] for r in rows}
    return [(r[0], r[2]) for r in rows
            if r[1] == "zone" and types.get(r[2]) == "city"]


def _money(rng: random.Random, lo: float, hi: float) -> tuple[str, int]:
    """A level in 亿元 with one decimal: (text, value in yuan)."""
    tenths = rng.randint(int(lo * 10), int(hi * 10))
    return f"{tenths // 10}.{tenths % 10}", tenths * 10_000_000


def _pct(rng: random.Random, lo: float, hi: float) -> tuple[str, float]:
    tenths = rng.randint(int(lo * 10), int(hi * 10))
    return f"{tenths // 10}.{tenths % 10}", tenths / 10


GENERATOR_VERSION = 2  # bump when the articles change: a cached corpus of another version is rebuilt
REVISED_SHARE = 0.01   # articles that state a revised figure: the conflicts a real stream has


class Article:
    def __init__(self, rng: random.Random, zone: str, city: str):
        self.rng, self.zone, self.city = rng, zone, city
        self.label, self.start, self.end, pub_month = rng.choice(PERIODS)
        self.year = rng.randint(2019, 2025)
        self.edition = "revised" if rng.random() < REVISED_SHARE else "first"
        self.explicit_year = pub_month is None or rng.random() < 0.4
        if pub_month is None:
            self.published = f"{self.year + 1}-01-{rng.randint(10, 28):02d}"
        else:
            self.published = f"{self.year}-{pub_month:02d}-{rng.randint(10, 28):02d}"
        self.facts: list[dict] = []

    def figures(self, indicator: str) -> random.Random:
        """The figures of one zone, period and indicator: every article reporting them agrees
        (but a revised one), as real reports of one statistical release do."""
        return random.Random(f"{self.zone}|{self.year}|{self.label}|{indicator}|{self.edition}")

    def period(self) -> str:
        return f"{self.year}年{self.label}" if self.explicit_year else self.label

    def fact(self, indicator: str, measure: str, value: float, evidence: str, benchmark: str | None = None):
        unit = {"level": "CNY", "yoy_pct": "percent", "share_pct": "percent", "diff_pp": "pp"}[measure]
        self.facts.append({
            "entity": self.zone, "entity_alt": [], "entity_type": "zone", "year": self.year,
            "start_month": self.start, "end_month": self.end, "indicator": indicator, "segment": None,
            "measure": measure, "value": value, "unit": unit, "qualifier": "exact", "benchmark": benchmark,
            "tier": 1, "evidence": evidence,
        })

    def clause(self, indicator: str) -> str:
        """One statement about ``indicator``; records its facts."""
        rng = self.rng
        form = rng.choice(INDICATOR_FORMS[indicator])
        shape = rng.randrange(5)
        if indicator in GROWTH_ONLY and shape in (0, 2):
            shape = 1
        figures = self.figures(indicator)   # drawn in one order whatever the shape
        lt, lv = _money(figures, 20, 3000)
        yt, yv = _pct(figures, 0.5, 25)
        down = figures.random() < 0.15
        st, sv = _pct(figures, 5, 80)
        dt, dv = _pct(figures, 0.1, 9.9)
        above = figures.random() < 0.7
        grow = f"同比下降{yt}%" if down else f"同比增长{yt}%"
        yv = -yv if down else yv
        if shape == 0:          # level + yoy
            text = f"{form}{lt}亿元，{grow}"
            self.fact(indicator, "level", lv, text)
            self.fact(indicator, "yoy_pct", yv, text)
        elif shape == 1:        # yoy only
            text = f"{form}{grow}"
            self.fact(indicator, "yoy_pct", yv, text)
        elif shape == 2:        # level + yoy + share of the city
            text = f"{form}{lt}亿元，{grow}，占全市比重达{st}%"
            self.fact(indicator, "level", lv, text)
            self.fact(indicator, "yoy_pct", yv, text)
            self.fact(indicator, "share_pct", sv, text, self.city)
        else:                   # yoy + diff against the city
            text = f"{form}{grow}，{'高于' if above else '低于'}全市{dt}个百分点"
            self.fact(indicator, "yoy_pct", yv, text)
            self.fact(indicator, "diff_pp", dv if above else -dv, text, self.city)
        return text


def article(rng: random.Random, zones: list[tuple[str, str]]) -> tuple[str, dict, list[dict]]:
    zone, city = rng.choice(zones)
    a = Article(rng, zone, city)
    indicators = [i for i in INDICATOR_FORMS if i != "gdp"]
    rng.shuffle(indicators)
    chosen = indicators[:rng.randint(4, 7)]
    reporter = rng.choice(SURNAMES) + rng.choice(GIVEN)
    lines = [
        f"{zone}{a.label}经济运行稳中有进",
        "首页 » 新闻 » 经济",
        f"本报记者 {reporter}",
    ]
    # GDP lead, broken across a blank line in the middle of 地区生产总值
    figures = a.figures("gdp")
    lt, lv = _money(figures, 100, 3000)
    yt, yv = _pct(figures, 1, 12)
    dt, dv = _pct(figures, 0.1, 5)
    lines.append(f"{a.period()}，{zone}坚持稳中求进，实现地区生产\n\n总值{lt}亿元，同比增长{yt}%，"
                 f"增速高于全市{dt}个百分点。")
    ev = f"地区生产总值{lt}亿元，同比增长{yt}%，增速高于全市{dt}个百分点"
    a.fact("gdp", "level", lv, ev)
    a.fact("gdp", "yoy_pct", yv, ev)
    a.fact("gdp", "diff_pp", dv, ev, city)
    lines.append(rng.choice(FILLER))
    paras: list[str] = []
    for start in range(0, len(chosen), 2):
        group = chosen[start:start + 2]
        opener = rng.choice(SECTION_OPENERS)
        clauses = [a.clause(i) for i in group]
        paras.append(f"{opener}{a.period()}，{zone}" + "；".join(clauses) + "。")
    lines.append(paras[0])
    lines.append(f"图为{zone}的一处产业园区。记者 {reporter} 摄")
    lines.extend(paras[1:])
    lines.append(rng.choice(FILLER) + rng.choice(FILLER))
    lines.append(rng.choice(paras))       # a duplicated paragraph (stated once in the truth)
    lines.append(f"更多资讯请访问 https://news.example.com/{rng.randint(1000, 9999)}.html")
    while sum(len(x.encode("utf-8")) for x in lines) < 2100:
        lines.append(rng.choice(FILLER) + rng.choice(FILLER) + rng.choice(FILLER))
    text = "\n\n".join(lines) + "\n"
    meta = {"published_at": a.published, "title": lines[0],
            "source_url": f"https://news.example.com/a/{rng.randint(10**6, 10**7)}"}
    return text, meta, a.facts


def generate(out: Path, docs: int, seed: int = 6) -> dict:
    started = time.perf_counter()
    rng = random.Random(seed)
    zones = _zones()
    inbox, truth = out / "inbox", out / "truth"
    inbox.mkdir(parents=True, exist_ok=True)
    truth.mkdir(parents=True, exist_ok=True)
    width = max(5, len(str(docs - 1)))
    total_bytes = facts = 0
    for n in range(docs):
        text, meta, rows = article(rng, zones)
        stem = f"art_{n:0{width}d}"
        data = text.encode("utf-8")
        total_bytes += len(data)
        facts += len(rows)
        (inbox / f"{stem}.txt").write_bytes(data)
        (inbox / f"{stem}.meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        (truth / f"{stem}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    info = {"docs": docs, "seed": seed, "version": GENERATOR_VERSION, "bytes": total_bytes, "facts": facts,
            "seconds": round(time.perf_counter() - started, 2)}
    (out / "corpus.json").write_text(json.dumps(info), encoding="utf-8")
    return info


def ensure(out: Path, docs: int, seed: int = 6) -> dict:
    """Generate unless ``out`` already holds this exact corpus."""
    marker = out / "corpus.json"
    if marker.exists():
        info = json.loads(marker.read_text(encoding="utf-8"))
        if (info.get("docs"), info.get("seed"), info.get("version")) == (docs, seed, GENERATOR_VERSION):
            return info
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    return generate(out, docs, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    print(json.dumps(generate(args.out, args.docs, args.seed)))


if __name__ == "__main__":
    main()
