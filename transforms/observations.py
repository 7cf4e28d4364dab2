"""mentions → observations: bind each number to its indicator, entity, period and measure.

Rules (FACT_MODEL), as Polars expressions over the tiles of a batch:

- The indicator is the last one named in the tile's core; a tile whose core names
  nothing (``、增长5.5%``) continues the previous number of the sentence; a core that
  names something outside the vocabulary blocks that and becomes an unmapped mention.
- The entity is the last one named in the paragraph so far, else the last section
  heading's, else the document's main subject (its title's, else its first).
  全市/全区/全省/全国 mean the document's subject at that level or its containing unit.
- The period is the last period phrase in the paragraph so far, else the title's; its year follows ``periods.resolve_year``.
- The measure comes from the cue and the unit (transforms.measures).
"""
from __future__ import annotations

import re
from functools import lru_cache

import polars as pl

from transforms.clean import display_offset
from transforms.distinct import looked_up, on_distinct
from transforms.entities import EntityIndex
from transforms.enumerations import BREAKDOWN_OF
from transforms.mentions import BASIS_WORD, cue_words
from transforms.periods import PERIOD_FIELDS, parse_period, resolve_year
from transforms.runs import filled_by_id, on_runs, run_start, shifted
from transforms.subjects import LEAD_PARAGRAPHS, benchmark_of
from transforms.vocabulary import VOCAB_DIR, read_patterns, vocab_rows

BLOCKED = "\u2205"  # a core that names something unknown: stops carry-over
_KEY = ["sent_id"]
_ORDER = ["document_id", "para_no", "sent_no", "tile_no"]
_MAX_SEGMENT_CHARS = 20
_MAX_PHRASE_CHARS = 24
_BARE_RATE = r"(?:增速|增幅)(?:达到|达|为|是)?了?$"
POSTPOSED_RATE = r"^的(?:增速|增幅)"
_CONJUNCTIONS = r"[但而且并就却也还的之,，、\s]"
_TRADE = ["foreign_trade", "exports", "imports"]
_PARTNER = r"对([^对,，、;；:：]{1,12}?)(?:的)?(?:货物)?(?:贸易|进出口|出口|进口)"
_BREAKDOWN_INTRO = r"(?:按|分)[\p{Han}]{1,6}(?:看|分|划分)[:：,，]"


def defect_patterns() -> tuple[tuple[str, str], ...]:
    return vocab_rows("defects.csv")


def bind_indicators(tiles: pl.DataFrame, surface_to_code: dict[str, str], gap_forms: list[tuple[str, str]]) -> pl.DataFrame:
    """Indicator of each number tile, with carry-over inside the sentence."""
    # forms with a gap (规模以上工业实现增加值) are resolved once per distinct form found
    lookup = dict(surface_to_code)
    for form in tiles.get_column("indicator_form").drop_nulls().unique().to_list():
        if form not in lookup:
            lookup[form] = next((c for p, c in gap_forms if re.search(p, form)), None)
    tiles = tiles.with_columns(
        pl.col("indicator_form").replace_strict(lookup, default=None, return_dtype=pl.String).alias("indicator_own"),
        pl.col("next_lead").fill_null("").alias("_trailing"),
    )
    tiles = _components(tiles)
    code = pl.col("indicator_own")
    is_number = pl.col("tile_kind") == "number"
    names_nothing = pl.col("residue").str.len_chars() == 0
    # "10个方面", "52家企业": a count followed by a noun counts that noun, not the indicator before it
    trailing = pl.col("_trailing")
    counts_what_follows = (pl.col("kind") == "count") & trailing.str.contains(r"^[\p{Han}]") \
        & ~trailing.str.contains(r"^(?:以上|左右|上下|以内|之多|同比|比上年|较上年|增长|下降|占|的)")
    # intermediate columns are materialized once: an eager frame does not share subexpressions
    tiles = tiles.with_columns(counts_what_follows.alias("_counts_following"))
    counts_what_follows = pl.col("_counts_following")
    own = (
        # 固定资产投资比上年增长: the indicator may stand before a period or basis phrase;
        # "在100个工业园区中排第五" counts something else and leaves the sentence's indicator alone
        pl.when(~is_number).then(code)
        .when(counts_what_follows).then(None)
        .when(code.is_not_null()).then(code)
        .when(names_nothing).then(None)
        .otherwise(pl.lit(BLOCKED))
    )
    # a breakdown's code carries its form as segment, so both travel together (``own`` keeps
    # the prefix until ``carried`` strips it)
    is_breakdown = pl.col("indicator_form").is_not_null() & code.str.starts_with(BREAKDOWN_OF)
    tiles = tiles.with_columns(
        own.alias("_own"),
        pl.when(is_breakdown).then(pl.col("indicator_form")).alias("breakdown_segment"),
        code.str.strip_prefix(BREAKDOWN_OF).alias("indicator_own"),
    )
    own = pl.col("_own")
    tiles = tiles.with_columns(
        filled_by_id(own, *_KEY).alias("_in_sentence"),
        filled_by_id(pl.when(own != BLOCKED).then(own), "para_id").alias("_paragraph_topic"),
        filled_by_id(pl.when(own.is_not_null()).then(pl.col("breakdown_segment").fill_null("")), *_KEY).alias("_breakdown"),
    )
    # "福州的增速达到5.4%", "泉州2.5%的增速": a bare rate names no indicator of its own and
    # continues the paragraph's topic, even past the end of the sentence
    names_a_rate = pl.col("lead").str.contains(_BARE_RATE) | trailing.str.contains(POSTPOSED_RATE)
    # "…，但福州的增速": its clause names only a place, joined by a conjunction
    clause_names_nothing = pl.col("core_bare").str.replace_all(_CONJUNCTIONS, "") == ""
    in_sentence = pl.col("_in_sentence")
    bare_rate = is_number & clause_names_nothing & names_a_rate & (in_sentence.is_null() | (in_sentence == BLOCKED))
    carried = pl.when(bare_rate).then(pl.col("_paragraph_topic")).otherwise(in_sentence).str.strip_prefix(BREAKDOWN_OF)
    breakdown = pl.col("_breakdown")
    return tiles.with_columns(
        pl.when(is_number).then(pl.when(breakdown != "").then(breakdown)).alias("breakdown_segment"),
        # "50亿元级项目": a size class, not an amount
        (trailing.str.starts_with("级") | trailing.str.starts_with("量级")).alias("is_class_word"),
        pl.when(is_number & ~counts_what_follows).then(carried.replace(BLOCKED, None)).alias("indicator"),
        # the tile whose core named the indicator: its clause starts the evidence
        # (the core is the lead less the cue actually split off, and its clause is the core's tail)
        filled_by_id(pl.when(code.is_not_null()).then(pl.col("tile_start") + pl.col("core").str.len_chars()
                                                - pl.col("core_clause").str.len_chars()), *_KEY).alias("evidence_start"),
    ).drop("_trailing", "_counts_following", "_own", "_in_sentence", "_paragraph_topic", "_breakdown")


def _components(tiles: pl.DataFrame) -> pl.DataFrame:
    """"其中税收收入" right after 一般公共预算收入 is a component of that total (vocab/parts.csv):
    the total with the form as segment, through the breakdown code prefix."""
    parts = vocab_rows("parts.csv")
    if not tiles.get_column("indicator_form").is_in([form for form, _ in parts]).any():
        return tiles
    pairs = pl.DataFrame(parts, schema={"indicator_form": pl.String, "_whole": pl.String}, orient="row")
    before = filled_by_id(shifted(pl.col("indicator_own"), *_KEY), *_KEY)
    tiles = tiles.with_columns(before.alias("_before")).join(
        pairs, left_on=["indicator_form", "_before"], right_on=["indicator_form", "_whole"], how="left",
        coalesce=False)
    is_part = pl.col("_whole").is_not_null() & pl.col("core").str.contains(r"其中[,，:：]?[^,，;；。:：]*$")
    return tiles.with_columns(
        pl.when(is_part).then(pl.lit(BREAKDOWN_OF) + pl.col("_whole")).otherwise(pl.col("indicator_own"))
        .alias("indicator_own")).drop("_before", "_whole")


def bind_breakdown_lists(tiles: pl.DataFrame) -> pl.DataFrame:
    """"固定资产投资增长3.2%。分产业看：第一产业增长7.5%，建安工程增长3.3%": after 按…看 / 分…看 the
    items named are parts of the indicator the paragraph was about, read as it with a segment."""
    # only the paragraphs with an intro are read (the rest pass through); a sentence is looked at
    # in its first tile
    has_intro = pl.col("sentence").str.contains(_BREAKDOWN_INTRO)
    intro_paragraphs = tiles.select("para_id", "tile_no", "sentence").filter(pl.col("tile_no") == 0) \
        .filter(has_intro).get_column("para_id").unique()
    return on_runs(tiles, pl.col("para_id").is_in(intro_paragraphs.implode()),
                   lambda part: _breakdown_items(part, has_intro),
                   reads=["para_id", "sent_id", "sentence", "tile_kind", "lead", "core_bare", "indicator_own", "indicator",
                          "breakdown_segment"])


def _breakdown_items(tiles: pl.DataFrame, has_intro: pl.Expr) -> pl.DataFrame:
    is_number = pl.col("tile_kind") == "number"
    # a tile is introduced when its lead or an earlier tile's of the sentence holds the intro
    tiles = tiles.with_columns(has_intro.alias("_has_intro"),
                               pl.col("lead").str.contains(_BREAKDOWN_INTRO).alias("_intro_here"))
    introduced = pl.col("_intro_here").cum_max().over(_KEY)
    topic = pl.when(pl.col("indicator_own").is_not_null() & ~pl.col("_has_intro")) \
        .then(pl.col("indicator_own")).forward_fill().over("para_id")
    tiles = tiles.with_columns(topic.shift(1).over("para_id").alias("_topic_before"))
    tiles = tiles.with_columns(pl.col("_topic_before").first().over(_KEY))
    item = pl.col("core_bare").str.replace_all(r"[\s,，、;；:：()（）]", "")
    in_list = is_number & introduced & pl.col("_topic_before").is_not_null() & (item.str.len_chars() > 0) \
        & (item.str.len_chars() <= _MAX_SEGMENT_CHARS) & ~item.str.contains(r"[0-9]")
    return tiles.with_columns(
        pl.when(in_list).then(pl.col("_topic_before")).otherwise(pl.col("indicator")).alias("indicator"),
        pl.when(in_list).then(item).otherwise(pl.col("breakdown_segment")).alias("breakdown_segment"),
    ).drop("_topic_before", "_has_intro", "_intro_here")


def bind_segments(tiles: pl.DataFrame, segment_codes: set[str], index: EntityIndex) -> pl.DataFrame:
    """industry_output names its industry just before 产值 ("新型智能终端产值达…")."""
    needs_segment = pl.col("indicator").is_in(sorted(segment_codes)) & pl.col("indicator_own").is_not_null()
    raw = pl.col("core_bare").str.extract(r"^(.*?)(?:产值|总产值)$", 1)
    prefixes = "|".join(re.escape(w) for w in cue_words()["segment_prefix"])
    suffixes = "|".join(re.escape(w) for w in cue_words()["segment_suffix"])
    cleaned = raw.str.replace(f"^(?:{prefixes})+", "").str.replace(f"(?:{suffixes})+$", "")
    # the industry a core names and the partner its clause trades with, read once per distinct text
    tiles = on_distinct(tiles, ["core_bare", "core_clause"], lambda distinct: distinct.with_columns(
        pl.when((cleaned.str.len_chars() > 0) & (cleaned.str.len_chars() <= _MAX_SEGMENT_CHARS)
                & ~cleaned.str.contains(r"[0-9]")).then(cleaned).alias("_industry"),
        pl.col("core_clause").str.extract(_PARTNER, 1).fill_null("").alias("_partner")))
    named = pl.col("indicator_own").is_not_null()
    # both carry to the numbers after them that name nothing ("电子信息产业产值120亿元，增长9.1%")
    segment = filled_by_id(pl.when(named).then(
        pl.when(needs_segment & pl.col("_industry").is_not_null()).then(pl.col("_industry")).otherwise(pl.lit(""))
    ), *_KEY).replace("", None)
    # 对东盟进出口, 对美出口: trade with a partner is a segment of the subject's trade
    partner = filled_by_id(pl.when(pl.col("indicator").is_in(_TRADE) & named).then(pl.col("_partner")), *_KEY).replace("", None)
    return tiles.with_columns(
        pl.coalesce(pl.col("enum_segment"), pl.col("breakdown_segment"), partner, segment).alias("segment")
    ).drop("_industry", "_partner")


def bind_periods(tiles: pl.DataFrame, documents: pl.DataFrame) -> pl.DataFrame:
    """Period and year of every tile: paragraph carry-over, then section heading, then title."""
    phrases = tiles.get_column("period_phrase").drop_nulls().unique().to_list()
    parsed = [parse_period(p) for p in phrases]
    table = pl.DataFrame({"period_phrase": phrases, **{f: [p[f] for p in parsed] for f in PERIOD_FIELDS}},
                         schema={"period_phrase": pl.String, **PERIOD_FIELDS})
    published = documents.select("document_id", pl.col("published_at").cast(pl.Date)).unique("document_id", keep="last")
    tiles = looked_up(looked_up(tiles, table, ["period_phrase"]), published, ["document_id"])
    tiles = tiles.with_columns(
        run_start("document_id").cum_sum().alias("_doc"),
        pl.col("next_lead").alias("_next_lead"),
        pl.col("lead").str.contains(r"(?:到|至|截至|截止|于|《|“|\")$").alias("_names_target"),
    )
    next_lead = pl.col("_next_lead")
    bare_year = (pl.col("tile_kind") == "period") & (pl.col("period_kind") == "bare_year")
    # A bare year opening a clause ("2024年，全区实现…", or right after the subject: 重庆高新区2024年GDP…)
    # dates the clause, and once that year is over at publication it is the whole year; 到2027年 and
    # 《2024年…》 name a target or a title, and elsewhere (2024年湖北省名单) a bare year dates nothing.
    names_target = pl.col("_names_target")
    opens_clause = ~names_target & next_lead.is_not_null() & (
        pl.col("lead").str.contains(r"(?:^|[,，;；:：。])$")
        | (pl.col("core_clause") == pl.col("entity_form")))
    year_over = pl.col("published_at").is_null() | (pl.col("published_at").dt.year() > pl.col("explicit_year"))
    whole_year = bare_year & opens_clause & year_over & ~pl.col("year_lost").fill_null(False)
    # 去年 alone ("在去年…的基础上") names a year, and "经过二季度后" a stretch of time, not the
    # period of what follows
    is_period = (pl.col("tile_kind") == "period") & ~pl.col("period_kind").is_in(["date", "basis", "year_only"]) \
        & ~pl.col("lead").str.contains("(?:经过|历经)$") & (
        (pl.col("period_kind") != "bare_year") | pl.col("is_title") | whole_year)
    year_token = (pl.col("tile_kind") == "number") & (pl.col("kind") == "date") & pl.col("token").str.contains(r"^20[0-9]{2}年$")
    tiles = tiles.with_columns(is_period.alias("_is_period"), opens_clause.alias("_opens_clause"),
                               year_token.alias("_year_token"),
                               (next_lead.str.contains(r"^[,，:：]") | next_lead.is_null()).alias("_before_comma"))
    is_period, opens_clause, year_token = pl.col("_is_period"), pl.col("_opens_clause"), pl.col("_year_token")
    phrase = pl.when(is_period).then(pl.col("period_phrase"))
    adverbial_year = year_token & pl.col("_before_comma")
    year_of_context = bare_year & ~names_target & (pl.col("_before_comma") | opens_clause)
    context_year = (
        pl.when(is_period & pl.col("explicit_year").is_not_null()).then(pl.col("explicit_year"))
        .when(year_of_context).then(pl.col("explicit_year"))
        .when(adverbial_year).then(pl.col("value").cast(pl.Int32, strict=False))
    )
    tiles = tiles.with_columns(
        filled_by_id(phrase, "para_id").alias("para_period"),
        filled_by_id(context_year, "para_id").alias("context_year"),
        # a year stated in the sentence of a target (到2027年) is the target's year
        filled_by_id(pl.when(year_token).then(pl.col("value").cast(pl.Int32, strict=False))
               .when(bare_year).then(pl.col("explicit_year")), *_KEY).alias("sentence_year"),
    )
    # windows over a document are taken over its run number (_doc): integer groups are cheaper
    title_period = pl.when(pl.col("is_title")).then(pl.col("para_period")).drop_nulls().first().over("_doc")
    # the lead's period (the first one the body states) covers later paragraphs that state none,
    # and the first year the body states for a period dates those that state none
    in_lead = ~pl.col("is_title") & (pl.col("para_no") < LEAD_PARAGRAPHS)
    lead_period = pl.when(in_lead & is_period).then(pl.col("period_phrase")).drop_nulls().first().over("_doc")
    lead_year = pl.when(in_lead & is_period).then(pl.struct("period_phrase", "explicit_year")).drop_nulls() \
        .first().over("_doc").struct.field("explicit_year")
    # the title's year (2024年上半年…经济运行情况) dates the body where its lead states none
    title_year = pl.when(pl.col("is_title") & is_period).then(pl.col("explicit_year")).drop_nulls().first().over("_doc")
    tiles = tiles.with_columns(
        pl.coalesce("para_period", title_period, lead_period).alias("bound_period"),
        pl.coalesce(lead_year, title_year).alias("lead_year"),
    ).drop(*PERIOD_FIELDS, "_doc", "_next_lead", "_names_target", "_is_period", "_opens_clause", "_year_token",
           "_before_comma")
    tiles = looked_up(tiles, table.rename({"period_phrase": "bound_period"}), ["bound_period"])
    year = resolve_year(pl.col("explicit_year"), pl.col("context_year"), pl.col("relative_year"), pl.col("lead_year"),
                        pl.col("end_month"), pl.col("published_at"), pl.col("year_lost").fill_null(False))
    return tiles.with_columns(year.alias("year"))


_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_HAN = "\u4e00-\u9fff"  # literal in the class: both Python's re and Polars' regex read it
_GROUP = rf"(?:全国|全省|全市|全区|[{_HAN}()]{{2,10}}?)"
_GROUPS = rf"(?P<benches>{_GROUP}(?:[、和及与]{_GROUP})+)(?:平均水平|平均增速|平均|水平|增速)?"
_NUMBERS = rf"(?P<numbers>{_NUMBER}(?:个百分点|个)?(?:[、和及与]{_NUMBER}(?:个百分点|个)?)+)个百分点"


@lru_cache(maxsize=1)
def comparison_list_regexes() -> tuple[re.Pattern, ...]:
    """"分别高于全国、全省1.3和0.6个百分点", "比全国、全省分别高1.3、0.6个百分点", and the
    repeated form "高于全国1.3个百分点、全省0.6个百分点": one gap per group, in order."""
    up, down = cue_words()["diff_up"], cue_words()["diff_down"]
    verbs = "|".join(sorted(map(re.escape, up + down), key=len, reverse=True))
    return (
        re.compile(rf"(?:分别)?(?P<dir>{verbs}){_GROUPS}(?:分别)?{_NUMBERS}"),
        re.compile(rf"(?:比|较){_GROUPS}(?:分别)?(?P<dir>高出|高|快|低|慢){_NUMBERS}"),
        re.compile(rf"(?P<dir>{verbs})(?P<first>{_GROUP}){_NUMBER}个百分点(?P<rest>(?:[、，,]{_GROUP}{_NUMBER}个百分点)+)"),
    )


def _comparison_pairs(match: re.Match) -> tuple[str, list[tuple[str, float]]] | None:
    direction = match.group("dir")
    if "rest" in match.groupdict():
        items = re.findall(rf"[、，,]?({_GROUP})({_NUMBER})个百分点", match.group(0)[len(direction):])
        return direction, [(group, float(number)) for group, number in items]
    benches = re.split(r"[、和及与]", match.group("benches"))
    numbers = [float(n) for n in re.findall(_NUMBER, match.group("numbers"))]
    if len(benches) != len(numbers):
        return None
    return direction, list(zip(benches, numbers))


def bind_comparison_lists(tiles: pl.DataFrame, index: EntityIndex) -> pl.DataFrame:
    """Gaps to several benchmarks in one phrase: one diff_pp per benchmark, for the growth
    rate stated just before the phrase (its subject, indicator and period). Returns ``tiles``
    itself when no phrase gave any, else the tiles with those rows, sorted by _ORDER."""
    listed = pl.col("sentence").str.contains("个百分点") & pl.col("sentence").str.contains("[、和及与]")
    candidates = tiles.filter((pl.col("tile_kind") == "number") & listed)
    if candidates.height == 0:
        return tiles
    down = tuple(cue_words()["diff_down"]) + ("低", "慢")
    replaced, added = [], []
    for (_,), group in candidates.sort("tile_no").group_by(["sent_id"], maintain_order=True):
        rows = group.to_dicts()
        sentence = rows[0]["sentence"]
        matches = sorted((m for regex in comparison_list_regexes() for m in regex.finditer(sentence)),
                         key=lambda m: m.start())
        for match in matches:
            parsed = _comparison_pairs(match)
            base = next((r for r in reversed(rows) if r["measure"] == "yoy_pct" and r["tile_end"] <= match.start()
                         and r["indicator"] is not None), None)
            if parsed is None or base is None:
                continue
            direction, pairs = parsed
            sign = -1.0 if direction.startswith(down) else 1.0
            inside = [r for r in rows if match.start() <= r["tile_start"] < match.end()]
            replaced.extend((r["sent_id"], r["tile_no"]) for r in inside)
            for group_name, number in pairs:
                added.append({**base, "measure": "diff_pp", "value": sign * number, "unit": "pp",
                              "qualifier": "exact", "tile_end": match.end(),
                              "benchmark": benchmark_of(group_name, base["entity"], index)})
    if not added:
        return tiles
    drop = pl.DataFrame(replaced, schema={"sent_id": pl.Int64, "tile_no": pl.Int32}, orient="row")
    kept = tiles.join(drop, on=["sent_id", "tile_no"], how="anti")
    return pl.concat([kept, pl.DataFrame(added, schema=tiles.schema)]).sort(_ORDER, maintain_order=True)


def defects(sentences: pl.DataFrame) -> pl.DataFrame:
    """Numbers that cannot be read (defects.csv: lost digits, masks, merged numbers), one row per
    occurrence; char_start is in the paragraph as found."""
    # only the sentences with a defect are read pattern by pattern (each distinct one checked once)
    sentences = on_distinct(sentences, ["sentence"], lambda distinct: distinct.with_columns(
        pl.col("sentence").str.contains(any_defect_regex()).alias("_defective"))).filter("_defective")
    frames = []
    for kind, pattern in defect_patterns():
        frames.append(
            sentences.select(
                "document_id", pl.col("sentence_display").alias("sentence"),
                pl.col("sentence").str.extract_all(pattern).alias("text"),
                pl.col("sentence").alias("reading"), pl.col("sent_start"), pl.col("para_no"), "norm_to_display",
            ).explode("text").filter(pl.col("text").is_not_null()).with_columns(pl.lit(kind).alias("kind"))
        )
    if not frames:
        return pl.DataFrame(schema={"document_id": pl.String, "kind": pl.String, "text": pl.String,
                                    "sentence": pl.String, "char_start": pl.Int32})
    found = pl.concat(frames)
    return found.with_columns(
        # character offset in the reading (str.find would count bytes), then in the paragraph as found
        display_offset(pl.col("sent_start") + pl.col("reading").str.split(pl.col("text")).list.first().str.len_chars())
        .cast(pl.Int32).alias("char_start")
    ).select("document_id", "kind", "text", "sentence", "char_start").unique(maintain_order=True)


def any_defect_regex() -> str:
    return "|".join(f"(?:{p})" for _, p in defect_patterns())


def phrase_of(residue: pl.Expr) -> pl.Expr:
    """The unmapped words that named a number: the residue's last clause."""
    return residue.str.extract(r"([^,，;；:：。、—]+)$", 1).str.slice(-_MAX_PHRASE_CHARS)


def strip_pattern(entity_pattern: str, period_pattern: str, basis: bool = True) -> str:
    """What names nothing between an indicator and its number. Without ``basis`` the pattern
    leaves out the basis of a figure (按可比价格计算): the same pattern on a text without
    ``BASIS_WORD``, and a much faster one (those alternatives may start at any character)."""
    fillers = sorted(cue_words()["filler"], key=len, reverse=True)
    filler_alt = "|".join(re.escape(w) for w in fillers)
    # 按2017年平均汇率计算为, 按可比价格计算: the basis of a figure names nothing, nor does a
    # note in brackets after it ((部口径), (人民币,下同), (不含农户))
    basis_alt = (f"|按[^,，;；。]{{0,12}}?{BASIS_WORD}为?"
                 f"|[^,，;；。]{{0,8}}?(?:汇率|价格|可比价|不变价|口径){BASIS_WORD}为?") if basis else ""
    return (
        f"(?:{entity_pattern})|(?:{period_pattern})|(?:{filler_alt}){basis_alt}"
        r"|[(（][^()（）]{0,10}[)）]"
        r"|[\s,，、;；:：()（）“”\"'《》—\-·.]"
    )


def read_lines(name: str) -> list[str]:
    return read_patterns(VOCAB_DIR / name)
