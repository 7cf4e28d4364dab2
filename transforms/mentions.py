"""paragraphs → sentences → tiles → mentions.

A sentence is cut into *tiles*: each tile is the text since the previous tile
(its *lead*) followed by one period phrase or one number expression. A number tile
with its lead is one *mention*; the cue words at the end of the lead (同比增长,
占全市比重, 高于全市 …) give its measure and qualifier, and what stands before the
cue (the *core*) names the entity and indicator. All of it runs as Polars
expressions over the sentences of a whole batch.

``mentions(split_sentences(paragraphs), matchers)`` returns one row per tile (but the end
tiles that name nothing):

    document_id, para_no, sent_no, tile_no, is_title, is_heading
    sentence, sentence_display, sent_start     the sentence and its offset in the paragraph
    tile_start, tile_end                        offsets of the tile in the sentence
    lead, core, token, cue columns              the parts of the tile
    tile_kind                                   period | number | end
    plus the parsed token (value, unit, kind, suffix_qualifier, lost_digits)
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import polars as pl

from transforms.clean import display_offset
from transforms.distinct import looked_up, on_distinct
from transforms.numbers import parse_token, token_pattern
from transforms.periods import period_pattern
from transforms.runs import position, run_start, running_sum
from transforms.vocabulary import VOCAB_DIR

# every character belongs to a sentence (a stray leading "。" is one of its own), so that
# sentence offsets add up to positions in the paragraph
_SENTENCE = r"[^。！？!?]+[。！？!?”」]*|[。！？!?”」]+"
_HEADING_MAX_CHARS = 40
_BOUNDARY = r"[,，;；:：。!?！？—]"
_SECTION_MARK = r"^(?:[(（][一二三四五六七八九十]{1,3}[)）]|[一二三四五六七八九十]{1,3}、)"
# words after an indicator's that make it name something else (出口企业, 进口国, 万元GDP能耗)
_MODIFIERS = ("企业", "国", "商", "能耗", "电耗", "水耗")
_MODIFIED = "(?:" + "|".join(_MODIFIERS) + ")"
# every alternative of observations.strip_pattern's basis of a figure ends in this word
BASIS_WORD = "计算"
# a place after these is compared against (高于全省), traded with (对东盟出口), ranked among
# (跻身全国百强) or named as a guide (以全市科技大会精神为指导), not the subject
_COMPARED_WITH = ("(?:领先于|领先|高于|低于|快于|慢于|超过|超出|落后于|落后|优于|居|位居|位列|居于|对|跻身|进入|入选|晋升"
                  "|以|按照|根据|贯彻|落实|围绕)")


@lru_cache(maxsize=1)
def cue_words() -> dict[str, list[str]]:
    table = pl.read_csv(VOCAB_DIR / "cues.csv", comment_prefix="#")
    words: dict[str, list[str]] = {}
    for role, word in table.iter_rows():
        words.setdefault(role, []).append(word)
    return {role: sorted(ws, key=len, reverse=True) for role, ws in words.items()}


def _alt(words: list[str]) -> str:
    return "(?:" + "|".join(re.escape(w) for w in words) + ")"


@lru_cache(maxsize=1)
def cue_pattern() -> str:
    """The cue at the end of a lead, with named groups; everything optional but anchored at the end."""
    w = cue_words()
    bench = r"[\p{Han}()]{0,10}?"
    linking = _alt(w["linking"])
    qualifier = _alt(w["at_least"] + w["about"] + w["at_most"])
    diff = (
        f"(?P<diff>{_alt(w['diff_up'] + w['diff_down'])}(?P<diff_bench>{bench})"
        r"(?:平均水平|平均增速|平均增幅|平均|增速|增幅|水平)?"
        # 比全省高 / 较全市快: the comparison before the direction
        rf"|(?:比|较)[\p{{Han}}()]{{1,10}}?(?:平均水平|平均|水平)?(?:高出|高|快|低|慢))"
    )
    share = (
        rf"(?P<share>占(?P<share_bench>{bench})(?:[\p{{Han}}A-Za-z]{{0,10}}?)(?:的)?(?:比重|比例|份额)"
        r"|占(?P<share_bench2>全市|全省|全国|全区)?[\p{Han}A-Za-z]{0,8}?的"
        r"|占比|比重)"
    )
    avg2y = f"(?P<avg2y>{_alt(w['avg2y'])})"
    yoy = (
        f"(?P<yoy_basis>{_alt(w['yoy_basis'])})?(?:实现|继续|持续|名义|实际)*"
        f"(?P<yoy_dir>{_alt(w['yoy_up'] + w['yoy_down'])})(?:分别|均)?"
    )
    return (
        f"(?P<cue>(?:{diff}|{share}|{avg2y}|{yoy})?"
        f"(?:{linking})*(?:可)?(?:{linking})*(?P<qpre>{qualifier})?)$"
    )


@lru_cache(maxsize=1)
def rank_cue_pattern() -> str:
    w = cue_words()
    return rf"(?P<rank_cue>(?P<rank_verb>{_alt(w['rank_verb'])})?(?P<rank_bench>[\p{{Han}}()]{{0,10}}?))$"


# 持平 ("和全市平均水平持平") and 第N ("位居全市第一") have cues of their own; they are
# matched only before those tokens, because their bench part would swallow any lead.
PARITY_CUE = r"(?P<parity_cue>(?P<parity>和|与|同)(?P<parity_bench>[\p{Han}()]{0,10}?)(?:平均水平|平均|水平)?)$"


@lru_cache(maxsize=1)
def tile_pattern() -> str:
    return rf"(?s).*?(?:{period_pattern()}|{token_pattern()}|$)"


@dataclass(frozen=True)
class Matchers:
    """Regular expressions (and forms) built for one batch (entity names include discovered ones)."""
    entity: str
    indicator: str
    strip: str          # what may stand between an indicator and its number without naming anything
    # ``strip`` less its basis-of-a-figure alternatives, for texts without BASIS_WORD (optional)
    strip_plain: str | None = None
    # the surface forms that name a group of zones by a scope word (全省10个国家级经开区)
    groups: frozenset[str] = frozenset()


def split_sentences(paragraphs: pl.DataFrame) -> pl.DataFrame:
    is_heading = ~pl.col("norm").str.contains("。") & (pl.col("norm").str.len_chars() <= _HEADING_MAX_CHARS)
    length = pl.col("sentence").str.len_chars()
    paragraph = ("document_id", "para_no")
    # a paragraph repeated across the batch is cut once (transforms.distinct)
    return (
        on_distinct(paragraphs, ["norm"], lambda texts: texts.with_columns(
            is_heading.alias("is_heading"), pl.col("norm").str.extract_all(_SENTENCE).alias("sentence")))
        .explode("sentence")
        .filter(pl.col("sentence").is_not_null())
        # the sentences of a paragraph are one run (transforms.runs), in their order
        .with_columns(
            position(*paragraph).cast(pl.Int32).alias("sent_no"),
            (running_sum(length, *paragraph) - length).cast(pl.Int32).alias("sent_start"),
        )
        .with_columns(
            # the sentence as found, noise inside it included
            pl.col("display").str.slice(display_offset(pl.col("sent_start")), display_offset(
                pl.col("sent_start") + length) - display_offset(pl.col("sent_start"))
            ).alias("sentence_display"),
            # integer keys make the many windows below cheap; para_id numbers the stretches what
            # carries over stays in: a paragraph, cut again at an inline section marker ("。(二)园区经济…")
            (run_start(*paragraph) | pl.col("sentence").str.contains(_SECTION_MARK)).cum_sum().cast(pl.Int64)
            .alias("para_id"),
            pl.int_range(pl.len(), dtype=pl.Int64).alias("sent_id"),
        )
        .drop("norm", "display")
    )


def _tiles(sentences: pl.DataFrame) -> pl.DataFrame:
    """The tiles of each of ``sentences`` (one row per distinct sentence), in order; ``_sentence``
    numbers the sentences."""
    length = pl.col("tile").str.len_chars()
    return (
        sentences.with_columns(pl.col("sentence").str.extract_all(tile_pattern()).alias("tile"),
                               pl.int_range(pl.len(), dtype=pl.Int64).alias("_sentence"))
        .explode("tile")
        .filter(pl.col("tile").is_not_null() & (pl.col("tile") != ""))
        .with_columns(
            position("_sentence").cast(pl.Int32).alias("tile_no"),
            (running_sum(length, "_sentence") - length).cast(pl.Int32).alias("tile_start"),
        )
        .with_columns((pl.col("tile_start") + length).cast(pl.Int32).alias("tile_end"))
    )


def _split_token(tiles: pl.DataFrame) -> pl.DataFrame:
    period_at_end = pl.col("tile").str.extract(f"({period_pattern()})$", 1)
    token_at_end = pl.col("tile").str.extract(f"({token_pattern()})$", 1)
    tiles = tiles.with_columns(period_at_end.alias("period_phrase"), token_at_end.alias("token"))
    tiles = tiles.with_columns(
        pl.when(pl.col("period_phrase").is_not_null()).then(pl.lit("period"))
        .when(pl.col("token").is_not_null()).then(pl.lit("number"))
        .otherwise(pl.lit("end")).alias("tile_kind")
    )
    tail = pl.when(pl.col("tile_kind") == "period").then(pl.col("period_phrase")).otherwise(pl.col("token"))
    return tiles.with_columns(
        pl.col("tile").str.head(pl.col("tile").str.len_chars() - tail.str.len_chars().fill_null(0)).alias("lead"),
        pl.when(pl.col("tile_kind") == "number").then(pl.col("token")).alias("token"),
        pl.when(pl.col("tile_kind") == "period").then(pl.col("period_phrase")).alias("period_phrase"),
    )


_TOKEN_FIELDS = {"value": pl.Float64, "unit": pl.String, "kind": pl.String,
                 "suffix_qualifier": pl.String, "lost_digits": pl.Boolean}


def _parsed_tokens(tiles: pl.DataFrame) -> pl.DataFrame:
    """One row per distinct token: the token and its parse (numbers.parse_token)."""
    tokens = tiles.get_column("token").drop_nulls().unique().to_list()
    parsed = [parse_token(token) for token in tokens]
    return pl.DataFrame({"token": tokens, **{f: [p[f] for p in parsed] for f in _TOKEN_FIELDS}},
                        schema={"token": pl.String, **_TOKEN_FIELDS})


def _cues(tiles: pl.DataFrame) -> pl.DataFrame:
    is_rank = pl.col("kind") == "rank"
    is_parity = pl.col("kind") == "level_off"
    cue = pl.col("lead").str.extract_groups(cue_pattern())
    rank = pl.when(is_rank).then(pl.col("lead").str.extract_groups(rank_cue_pattern()))
    parity = pl.when(is_parity).then(pl.col("lead").str.extract_groups(PARITY_CUE))
    tiles = tiles.with_columns(cue.alias("cue_groups"), rank.alias("rank_groups"), parity.alias("parity_groups")) \
        .unnest("cue_groups", "rank_groups", "parity_groups")
    cue_len = (
        pl.when(is_rank).then(pl.col("rank_cue").str.len_chars())
        .when(is_parity & pl.col("parity_cue").is_not_null()).then(pl.col("parity_cue").str.len_chars())
        .when(pl.col("tile_kind") == "number").then(pl.col("cue").str.len_chars())
        .otherwise(0).fill_null(0)
    )
    # the benches and the basis the groups name are read from ``cue`` itself (subjects.benchmark_of)
    return tiles.with_columns(pl.col("lead").str.head(pl.col("lead").str.len_chars() - cue_len).alias("core")) \
        .drop("diff_bench", "share_bench", "share_bench2", "yoy_basis", "parity_bench")


def _residue(cores: pl.DataFrame, matchers: Matchers) -> pl.DataFrame:
    """``residue``: the core without what ``matchers.strip`` matches. The entity names
    (thousands, with the gazetteer) are removed in a pass of their own: in one alternation with
    a character class or the period pattern they cost the regex engine its literal search
    (100× slower). The basis alternatives may start at any character, so only the cores that
    hold their BASIS_WORD are read with them."""
    core, residue = pl.col("core"), pl.col("residue")
    names = f"(?:{matchers.entity})|"
    if not matchers.strip.startswith(names):
        return cores.with_columns(core.str.replace_all(matchers.strip, "").alias("residue"))
    cores = cores.with_columns(core.str.replace_all(matchers.entity, "").alias("residue"))
    plain = matchers.strip_plain
    if plain is None or not plain.startswith(names):
        return cores.with_columns(residue.str.replace_all(matchers.strip[len(names):], ""))
    # the cores are distinct values looked up by text, so their order is free
    basis = residue.str.contains(BASIS_WORD, literal=True).fill_null(False)
    return pl.concat([
        cores.filter(basis).with_columns(residue.str.replace_all(matchers.strip[len(names):], "")),
        cores.filter(~basis).with_columns(residue.str.replace_all(plain[len(names):], "")),
    ])


@lru_cache(maxsize=4)
def _indicator_regexes(indicator: str) -> tuple[re.Pattern, re.Pattern]:
    return re.compile(f"{indicator}{_MODIFIED}?"), re.compile(indicator)


def _named_indicators(cores: pl.Series, indicator: str) -> pl.Series:
    """The indicator form each core names last, as ``core.str.extract_all(indicator + _MODIFIED?)``
    kept to the matches that are a form or do not end in a modifier, then ``list.last``. Read with
    Python's regex engine, on the few distinct cores of a batch: Rust's engine runs the literal
    forms mixed with the gap forms (规模以上工业…增加值) in its slow mode, several µs a core;
    the semantics (leftmost-first, greedy) are the same in both."""
    found, whole = _indicator_regexes(indicator)
    out = []
    for text in cores.to_list():
        last = None
        if text is not None:
            for match in found.finditer(text):
                form = match.group(0)
                if whole.fullmatch(form) or not form.endswith(_MODIFIERS):
                    last = form
        out.append(last)
    return pl.Series("indicator_form", out, dtype=pl.String)


def _read_cores(cores: pl.DataFrame, matchers: Matchers) -> pl.DataFrame:
    """What a core names: its indicator form, its residue, its clause and the clause's bare words."""
    core = pl.col("core")
    # the clause of the core: text after the last boundary (for segments and evidence)
    clause = core.str.extract(rf"([^,，;；:：。!?！？—]*)$", 1)
    cores = cores.with_columns(
        # 出口企业, 进口国, 万元GDP能耗: an indicator's word naming a kind of firm or country, or the
        # base of an intensity, is not the indicator
        _named_indicators(cores.get_column("core"), matchers.indicator),
        clause.alias("core_clause"),
        # the clause without names of entities and periods: what an enumeration or a segment lists
        clause.str.replace_all(matchers.entity, "").str.replace_all(period_pattern(), "").alias("core_bare"),
    )
    return _residue(cores, matchers)


def _read_tiles(tiles: pl.DataFrame, matchers: Matchers) -> pl.DataFrame:
    """What a tile's own text determines: its token and parse, its cue, and what its core names."""
    tiles = _split_token(tiles)
    tiles = looked_up(tiles, _parsed_tokens(tiles), ["token"])
    tiles = on_distinct(tiles, ["lead", "kind", "tile_kind"], _cues)
    return on_distinct(tiles, ["core"], lambda cores: _read_cores(cores, matchers))


def mentions(sentences: pl.DataFrame, matchers: Matchers) -> pl.DataFrame:
    """Tiles of every sentence (``split_sentences``) with their token parsed and their cue split
    off, in sentence order. An end tile whose core names no entity and no indicator ("。", a
    closing clause) is left out: no later step carries anything from it or reads it for another
    tile (it is the last of its sentence; alone, its sentence has no number an intro in it could
    introduce). It stays in a paragraph that names a group by a scope word (``matchers.groups``):
    resolving that group for a tile registers it (groups.group_entity)."""
    # A sentence's tiles and all read from them depend on its text alone (the windows below stay
    # inside a sentence): they are read once per distinct sentence (a batch repeats bylines,
    # boilerplate and reposts), then set on every sentence with that text, in sentence order.
    tiles = _sentence_tiles(sentences.select("sentence").unique(), matchers).with_row_index("_tile")
    silent = (pl.col("tile_kind") == "end") & pl.col("entity_form").is_null() & pl.col("indicator_form").is_null()
    # which tile goes on which sentence row, found on narrow frames; the wide ones are gathered once
    pairs = sentences.select("sentence", "para_id").with_row_index("_row").join(
        tiles.select("sentence", "_tile", silent.alias("_silent"),
                     pl.col("entity_form").is_in(list(matchers.groups)).alias("_group")),
        on="sentence", how="inner", maintain_order="left_right")
    grouped = pairs.filter("_group").get_column("para_id").unique()
    pairs = pairs.filter(~pl.col("_silent") | pl.col("para_id").is_in(grouped.implode()))
    return pl.concat([sentences[pairs.get_column("_row")], tiles.drop("sentence", "_tile")[pairs.get_column("_tile")]],
                     how="horizontal")


def _sentence_tiles(sentences: pl.DataFrame, matchers: Matchers) -> pl.DataFrame:
    """The tiles of ``sentences`` (distinct texts) with all read from them, by sentence."""
    # what a tile's own text determines is read once per distinct text (transforms.distinct)
    tiles = on_distinct(_tiles(sentences), ["tile"], lambda distinct: _read_tiles(distinct, matchers))
    core = pl.col("core")
    # the neighbouring tiles of the same sentence; the tiles are in sentence order here, so a
    # plain shift with a same-sentence mask does what a window would, at a fraction of the cost
    same_as_previous = pl.col("_sentence").shift(1) == pl.col("_sentence")
    same_as_next = pl.col("_sentence").shift(-1) == pl.col("_sentence")
    # a name with a count inside (全省12个国家级经开区) spans the count's tile and this one
    after_count = pl.when(same_as_previous).then(pl.col("kind").shift(1)) == "count"
    tiles = tiles.with_columns(
        pl.when(same_as_next).then(pl.col("lead").shift(-1)).alias("next_lead"),
        pl.when(same_as_previous).then(pl.col("period_phrase").shift(1)).alias("previous_period_phrase"),
        pl.when(after_count).then(pl.when(same_as_previous).then(pl.col("tile").shift(1)) + core).otherwise(core)
        .alias("_named_in"),
    )
    # 重庆市级 (municipal-level) is a modifier, not the city as subject, and 领先于全省其他地区
    # names what is compared against
    named = pl.col("_named_in").str.extract_all(f"(?:{_COMPARED_WITH}(?:{matchers.entity}[、和及与])*)?{matchers.entity}级?")
    entity_form = named.list.eval(pl.element().filter(
        ~pl.element().str.ends_with("级") & ~pl.element().str.contains(f"^{_COMPARED_WITH}"))).list.last()
    tiles = on_distinct(tiles, ["_named_in"], lambda distinct: distinct.with_columns(entity_form.alias("entity_form")))
    # ...and the count's own tile holds only the start of that name (四川省 of 四川省10个国家级经开区)
    following = pl.when(same_as_next).then(pl.col("entity_form").shift(-1))
    cut_short = (pl.col("kind") == "count") & following.str.starts_with(pl.col("entity_form")) \
        & (following.str.len_chars() > pl.col("entity_form").str.len_chars())
    return tiles.with_columns(pl.when(~cut_short.fill_null(False)).then(pl.col("entity_form")).alias("entity_form")) \
        .drop("_named_in", "_sentence")
