"""Numbers as written in Chinese news: Arabic, full-width (folded before), Chinese numerals.

``TOKEN_PATTERN`` is the regular expression (Rust and Python syntax) of one number
expression with its unit; ``parse_numeral`` turns the numeral part into a float.
Scale words (万, 亿, 万亿) multiply; ranges keep their lower bound.
"""
from __future__ import annotations

import re
from functools import lru_cache

import polars as pl

from transforms.vocabulary import VOCAB_DIR, read_patterns

CHINESE_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
                  "六": 6, "七": 7, "八": 8, "九": 9}
CHINESE_UNITS = {"十": 10, "百": 100, "千": 1000}
CHINESE_SCALES = {"万": 10_000, "亿": 100_000_000}
_CN = "零〇一二两三四五六七八九十百千"

@lru_cache(maxsize=1)
def range_separator() -> str:
    """A character class of what stands between the two ends of a range (3-5%, 1至9月, 一至九月):
    vocab/range_separators.txt, read by the number and period grammars and by coverage."""
    return "[" + "".join(re.escape(s) for s in read_patterns(VOCAB_DIR / "range_separators.txt")) + "]"


# 12,345.6 (thousands separators) before plain digits; a leading dot is a lost-digit defect
ARABIC = r"(?:[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
CHINESE = f"[{_CN}]+"
SCALE = r"(?:万亿|亿|千万|万)"
APPROX_INFIX = r"(?:余|多)"
SUFFIX = r"(?:以上|以下|以内|左右|上下|之多|多|余)"


@lru_cache(maxsize=1)
def units() -> pl.DataFrame:
    """units.csv with the scale folded in: 亿元 → money × 1e8."""
    return pl.read_csv(VOCAB_DIR / "units.csv", comment_prefix="#", schema_overrides={"factor": pl.Float64})


@lru_cache(maxsize=1)
def unit_table() -> dict[str, tuple]:
    """units.csv by surface unit: (kind, normalized unit, factor), for per-token lookups."""
    table: dict[str, tuple] = {}
    for unit, *rest in units().iter_rows():
        table.setdefault(unit, tuple(rest))   # the first row of a unit wins, as in the csv
    return table


@lru_cache(maxsize=1)
def special_numbers() -> dict[str, tuple[float, str, str, str | None]]:
    """special_numbers.csv: number words without digits (翻一番, 持平, 首位, 两位数) →
    (value, unit, kind, qualifier)."""
    table = pl.read_csv(VOCAB_DIR / "special_numbers.csv", comment_prefix="#",
                        schema_overrides={"value": pl.Float64, "qualifier": pl.String})
    return {token: (value, unit, kind, qualifier) for token, value, unit, kind, qualifier in table.iter_rows()}


def _unit_alternation(kinds: set[str] | None = None) -> str:
    table = units()
    if kinds is not None:
        table = table.filter(pl.col("kind").is_in(sorted(kinds)))
    words = sorted(table.get_column("unit").to_list(), key=len, reverse=True)
    # money units are matched as scale + base currency so that 881.7亿元 and 3千万元 both parse
    return "(?:" + "|".join(re.escape(w) for w in words) + ")"


@lru_cache(maxsize=1)
def token_pattern() -> str:
    """One number expression: special words, Chinese percent, ranks, Arabic or Chinese numerals."""
    unit = _unit_alternation()
    # a Chinese numeral is a number only before a unit of amount: 两年, 一季度, 三大任务 are words
    cn_unit = _unit_alternation({"money", "percent", "pp", "multiple", "count"})
    arabic = f"{ARABIC}(?:{range_separator()}{ARABIC})?"
    special = "|".join(re.escape(w) for w in sorted(special_numbers(), key=len, reverse=True))
    return (
        "(?:"
        f"{special}"
        f"|百分之[{_CN}点]+"
        # a rank ends the clause (全市第一。) or says 位/名; 第一产业 and 第七届 are not ranks
        f"|第(?:[0-9]+|[一二三四五六七八九十]+)(?:位|名|[,，。;；、!！?？)）]|$)"
        r"|20[0-9]{2}年[0-9]{1,2}月[0-9]{1,2}日"
        # a growth rate may be written signed (同比增长-2.1%); a range (3-5%) is matched whole below
        f"|-{ARABIC}%"
        f"|{arabic}{APPROX_INFIX}?(?:{SCALE})?{unit}?{SUFFIX}?"
        f"|{CHINESE}{APPROX_INFIX}?(?:{SCALE}{cn_unit}?|{cn_unit}){SUFFIX}?"
        ")"
    )


_TOKEN_PARTS = re.compile(
    rf"^(?P<num>{ARABIC}|[{_CN}]+)(?:{range_separator()}(?P<upper>{ARABIC}))?(?P<infix>{APPROX_INFIX})?"
    rf"(?P<scale>{SCALE})?(?P<unit>.*?)(?P<suffix>{SUFFIX})?$"
)


def parse_numeral(text: str) -> float | None:
    """'881.7' → 881.7, '一百六十九' → 169, '两千' → 2000, '二〇二四' → 2024, '十' → 10."""
    if not text:
        return None
    if text[0].isdigit() or text[0] == ".":
        try:
            return float(text.replace(",", ""))
        except ValueError:
            return None
    if all(ch in CHINESE_DIGITS for ch in text) and len(text) > 1:
        return float("".join(str(CHINESE_DIGITS[ch]) for ch in text))
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in CHINESE_DIGITS:
            digit = CHINESE_DIGITS[ch]
        elif ch in CHINESE_UNITS:
            section += (1 if digit is None else digit) * CHINESE_UNITS[ch]
            digit = None
        elif ch in CHINESE_SCALES:
            total += (section + (digit or 0)) * CHINESE_SCALES[ch]
            section, digit = 0, None
        else:
            return None
    return float(total + section + (digit or 0))


def _scale_factor(scale: str | None) -> float:
    return {"万亿": 1e12, "亿": 1e8, "千万": 1e7, "万": 1e4}.get(scale or "", 1.0)


@lru_cache(maxsize=4096)
def parse_token(token: str) -> dict:
    """Split a number token into value (scaled to base units), unit, kind and qualifier."""
    if token in special_numbers():
        value, unit, kind, qualifier = special_numbers()[token]
        return {"value": value, "unit": unit, "kind": kind, "suffix_qualifier": qualifier, "lost_digits": False}
    if token.startswith("百分之"):
        body = token[3:]
        whole, _, frac = body.partition("点")
        value = parse_numeral(whole) if whole else 0.0
        if value is not None and frac:
            value += float("0." + "".join(str(CHINESE_DIGITS.get(c, 0)) for c in frac))
        return {"value": value, "unit": "percent", "kind": "percent", "suffix_qualifier": None, "lost_digits": False}
    if token.startswith("第"):
        body = token[1:].rstrip("位名,，。;；、!！?？)）")
        return {"value": parse_numeral(body), "unit": "rank", "kind": "rank", "suffix_qualifier": None,
                "lost_digits": False}
    if token.startswith("-") and len(token) > 1:
        parsed = dict(parse_token(token[1:]))
        if parsed["value"] is not None:
            parsed["value"] = -parsed["value"]
        return parsed
    if re.fullmatch(r"20[0-9]{2}年[0-9]{1,2}月[0-9]{1,2}日", token):
        return {"value": None, "unit": None, "kind": "date", "suffix_qualifier": None, "lost_digits": False}
    match = _TOKEN_PARTS.match(token)
    if not match:
        return {"value": None, "unit": None, "kind": None, "suffix_qualifier": None, "lost_digits": False}
    number = parse_numeral(match["num"])
    unit_word = match["unit"] or ""
    kind, normalized, factor = unit_table().get(unit_word, (None, None, 1.0))
    if unit_word == "" and match["scale"]:
        kind, normalized = "bare_scaled", None
    if number is not None:
        # 321.4亿 is 32140000000, not 32139999999.999996
        number = float(f"{number * _scale_factor(match['scale']) * (factor or 1.0):.12g}")
    qualifier = None
    if match["infix"] or match["suffix"] in {"以上", "之多", "多", "余"}:
        qualifier = "at_least"
    elif match["suffix"] in {"左右", "上下"}:
        qualifier = "about"
    elif match["suffix"] in {"以下", "以内"}:
        qualifier = "at_most"
    if match["upper"]:
        qualifier = "at_least"
    if kind == "date" and unit_word == "年" and match["upper"]:
        kind = "year_range"
    return {"value": number, "unit": normalized, "kind": kind, "suffix_qualifier": qualifier,
            "lost_digits": match["num"].startswith(".")}
