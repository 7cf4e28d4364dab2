"""Lists read item by item: "A、B、C分别增长x%、y%和z%" gives item k to the k-th number.

``bind_enumerations(tiles, surface_to_code, index)`` runs after ``bind_indicators`` and sets,
for each number of a run that follows a 分别 (the *head*):

    indicator, enum_segment   when the listed items are indicators (or breakdowns of one)
    enum_entity               when they are places or zones: "福州、厦门GDP分别增长…"

and leaves both null elsewhere.

A head that lists nothing refers back: "GDP 100亿元、产值 105亿元，分别增长 x、y" gives the
k-th rate to the k-th indicator named before it in the sentence, and a second 分别 in the
sentence ("分别为…，分别增长…") reuses the first one's items. The item tables are built in
Python once per distinct head text (a handful per batch); the tiles are only joined.
"""
from __future__ import annotations

import re

import polars as pl

from transforms.entities import SCOPE_PREFIX, EntityIndex
from transforms.runs import on_runs
from transforms.vocabulary import vocab_rows

BREAKDOWN_OF = "\u2282"  # code prefix of a breakdown's form (基础设施投资 → ⊂fixed_asset_investment)
_KEY = ["sent_id"]
_ITEM_SEPARATORS = r"、|和|及|与|以及"
# what may stand between two listed places: separators, after a parenthetical scope (不含平潭)
# has been blanked out so that the place inside it is not read as an item
_BETWEEN_PLACES = re.compile(r"^ *(?:、|和|及|与|以及|,|，)$")
_PARENTHETICAL = re.compile(r"[(（][^()（）]{0,12}[)）]")


def enumeration_shorthands() -> tuple[tuple[str, str], ...]:
    return vocab_rows("enumerations.csv", longest_first=True)


def _split_items(head: str) -> list[str]:
    for short, expanded in enumeration_shorthands():
        head = head.replace(short, expanded)
    return [item for item in re.split(_ITEM_SEPARATORS, head) if item]


def _shared_suffix(items: list[str], surface_to_code: dict[str, str], forms: list[str]) -> str | None:
    """The words the last item carries for all: 一产、二产、三产增加值 → 增加值; A、B产值 → 产值."""
    last = items[-1]
    for start in range(1, len(last)):
        tail = last[start:]
        if items[0] + tail in surface_to_code:
            return tail
    return next((f for f in forms if last.endswith(f) and len(last) > len(f)), None)


def _indicator_items(head: str, surface_to_code: dict[str, str], forms: list[str]) -> list[tuple[str | None, str | None]]:
    items = _split_items(head)
    if len(items) < 2:
        return []
    # items that are each a form already (进出口总值和固定资产投资) share nothing
    suffix = None if all(item in surface_to_code for item in items) else _shared_suffix(items, surface_to_code, forms)
    out = []
    for item in items:
        full = item if suffix is None or item.endswith(suffix) else item + suffix
        code, segment = surface_to_code.get(full), None
        if code is None and suffix is not None:
            code = surface_to_code.get(suffix)
            segment = item[: -len(suffix)] if item.endswith(suffix) else item
        if code is not None and code.startswith(BREAKDOWN_OF):
            code, segment = code[len(BREAKDOWN_OF):], segment or full
        out.append((code, segment))
    return out


def _place_items(clause: str, places: re.Pattern, index: EntityIndex) -> list[str]:
    """The places listed at the start of a clause, when it starts with two or more of them."""
    found, cursor = [], 0
    clause = _PARENTHETICAL.sub(lambda m: " " * len(m.group(0)), clause)
    for match in places.finditer(clause):
        if match.start() != cursor and not _BETWEEN_PLACES.match(clause[cursor:match.start()]):
            break
        found.append(index.canonical[match.group(0)])
        cursor = match.end()
    named = [name for name in found if not name.startswith(SCOPE_PREFIX)]
    return found if len(found) >= 2 and len(named) == len(found) else []


def _back_references(tiles: pl.DataFrame) -> pl.DataFrame:
    """Runs whose head lists nothing: their k-th number takes the indicator of the k-th of the
    last n numbers before the run that named one (n = the run's length)."""
    schema = {"sent_id": pl.Int64, "enum_run": pl.Int32, "enum_index": pl.Int64,
              "enum_indicator": pl.String, "enum_segment": pl.String}
    orphans = tiles.filter(pl.col("_head") & pl.col("enum_head").is_null()).select("sent_id", "enum_run", "tile_no")
    if orphans.height == 0:
        return pl.DataFrame(schema=schema)
    # each orphan's sentence, gathered once: its numbers' tile_no, run and indicator, in order
    sentences = (tiles.join(orphans.select("sent_id").unique(), on="sent_id")
                 .filter(pl.col("tile_kind") == "number").sort("sent_id", "tile_no")
                 .group_by("sent_id").agg("tile_no", "enum_run", "indicator", "breakdown_segment"))
    by_sentence = {row[0]: row[1:] for row in sentences.iter_rows()}
    rows = []
    for sent_id, run, head_no in orphans.iter_rows():
        tile_nos, runs, codes, segments = by_sentence[sent_id]
        length = sum(r == run for r in runs)
        named = [(c, g) for n, c, g in zip(tile_nos, codes, segments) if n < head_no and c is not None]
        distinct = [item for i, item in enumerate(named) if i == 0 or item != named[i - 1]]
        if length >= 2 and len(distinct) >= length:
            for k, (code, segment) in enumerate(distinct[-length:]):
                rows.append((sent_id, run, k, code, segment))
    return pl.DataFrame(rows, schema=schema, orient="row")


# what _bind reads of the tiles (the head's cue columns included)
_READS = ["sent_id", "tile_no", "tile_kind", "lead", "core_bare", "core_clause", "period_phrase", "residue",
          "indicator_own", "indicator", "breakdown_segment", "yoy_dir", "qpre", "share", "diff"]


def bind_enumerations(tiles: pl.DataFrame, surface_to_code: dict[str, str], index: EntityIndex) -> pl.DataFrame:
    # a run follows a 分别 of its own sentence: the sentences without one pass through
    return on_runs(tiles, pl.col("sentence").str.contains("分别"),
                   lambda listing: _bind(listing, surface_to_code, index), reads=_READS)


def _bind(tiles: pl.DataFrame, surface_to_code: dict[str, str], index: EntityIndex) -> pl.DataFrame:
    is_number = pl.col("tile_kind") == "number"
    tiles = _through_basis(tiles)
    is_head = is_number & pl.col("_lead").str.contains("分别")
    # 分别 stands before the cue (A、B分别增长) or inside it (A、B增速分别为): then the whole core lists
    listed = pl.coalesce(pl.col("_core_bare").str.extract(r"^(.*?)分别", 1), pl.col("_core_bare"))
    listed = pl.when(is_head & (listed.str.contains(r"[\p{Han}A-Za-z]"))).then(listed)
    clause = pl.when(is_head).then(
        pl.coalesce(pl.col("_core_clause").str.extract(r"^(.*?)分别", 1), pl.col("_core_clause")))
    # "A、B分别为x、y，分别增长p、q": the second 分别 lists nothing and reuses A、B
    head_text = pl.when(is_head).then(pl.coalesce(listed, listed.forward_fill().over(_KEY)))
    named = clause.replace("", None)
    head_clause = pl.when(is_head).then(pl.coalesce(named, named.forward_fill().over(_KEY)))
    # a list goes on through 、和及与, not past a comma ("分别为x、y、z，均超过两位数")
    continues = is_number & ~is_head & (pl.col("residue").str.len_chars() == 0) & pl.col("indicator_own").is_null() \
        & ~pl.col("lead").str.contains("[,，;；]")
    run_id = (~continues).cast(pl.Int32).cum_sum().over(_KEY)
    tiles = tiles.with_columns(head_text.alias("enum_head"), head_clause.alias("enum_clause"),
                               run_id.alias("enum_run"), is_head.alias("_head"))
    tiles = tiles.with_columns(
        pl.col("enum_head").forward_fill().over([*_KEY, "enum_run"]).alias("enum_head"),
        pl.col("enum_clause").forward_fill().over([*_KEY, "enum_run"]).alias("enum_clause"),
        pl.int_range(pl.len()).over([*_KEY, "enum_run"]).cast(pl.Int64).alias("enum_index"),
    )
    forms = sorted(surface_to_code, key=len, reverse=True)
    item_rows = [(head, k, code, segment)
                 for head in tiles.get_column("enum_head").drop_nulls().unique().to_list()
                 for k, (code, segment) in enumerate(_indicator_items(head, surface_to_code, forms))]
    items = pl.DataFrame(item_rows, schema={"enum_head": pl.String, "enum_index": pl.Int64,
                                            "enum_indicator": pl.String, "enum_segment": pl.String}, orient="row")
    places = re.compile(index.pattern())
    place_rows = [(clause, k, name) for clause in tiles.get_column("enum_clause").drop_nulls().unique().to_list()
                  for k, name in enumerate(_place_items(clause, places, index))]
    listed_places = pl.DataFrame(place_rows, schema={"enum_clause": pl.String, "enum_index": pl.Int64,
                                                     "enum_entity": pl.String}, orient="row")
    listed_places = listed_places.with_columns(pl.len().over("enum_clause").alias("_places"))
    tiles = tiles.join(items, on=["enum_head", "enum_index"], how="left") \
        .join(listed_places, on=["enum_clause", "enum_index"], how="left")
    # places are items only when there are as many as numbers (长沙、株洲、湘潭 and three figures)
    tiles = tiles.with_columns(pl.when(pl.col("_places") == pl.len().over([*_KEY, "enum_run"]))
                               .then(pl.col("enum_entity")).alias("enum_entity")).drop("_places")
    back = _back_references(tiles).rename({"enum_indicator": "_back_indicator", "enum_segment": "_back_segment"})
    tiles = tiles.join(back, on=["sent_id", "enum_run", "enum_index"], how="left").with_columns(
        pl.coalesce("enum_indicator", "_back_indicator").alias("enum_indicator"),
        pl.when(pl.col("enum_indicator").is_not_null()).then(pl.col("enum_segment"))
        .otherwise(pl.col("_back_segment")).alias("enum_segment"),
    )
    in_enum = pl.col("enum_indicator").is_not_null()
    in_list = in_enum | pl.col("enum_entity").is_not_null()
    # the head's cue (分别突破 …) applies to every number of the run
    head_cue = [c for c in ("yoy_dir", "qpre", "share", "diff") if c in tiles.columns]
    return tiles.with_columns(
        pl.when(in_enum).then(pl.col("enum_indicator")).otherwise(pl.col("indicator")).alias("indicator"),
        pl.when(in_enum).then(pl.col("enum_segment")).alias("enum_segment"),
        *[pl.when(in_list).then(pl.col(c).forward_fill().over([*_KEY, "enum_run"])).otherwise(pl.col(c)).alias(c)
          for c in head_cue],
    ).drop("_back_indicator", "_back_segment", "_head", "enum_clause", "_lead", "_core_bare", "_core_clause",
           "enum_head", "enum_run", "enum_index", "enum_indicator")


def _through_basis(tiles: pl.DataFrame) -> pl.DataFrame:
    """``_lead``, ``_core_bare``, ``_core_clause``: a number's, or, right after a basis phrase that
    ends a list ("A、B分别比上年同期增长x、y": the list stands before 比上年同期), that phrase's tile's."""
    own = [pl.col(c).alias(f"_{c}") for c in ("lead", "core_bare", "core_clause")]
    if not tiles.select(((pl.col("tile_kind") == "period") & pl.col("core_bare").str.ends_with("分别")).any()).item():
        return tiles.with_columns(own)
    after_basis = (pl.col("tile_kind").shift(1).over(_KEY) == "period") \
        & pl.col("period_phrase").shift(1).over(_KEY).str.contains(r"^(?:比|较|同|与|和)") \
        & (pl.col("tile_kind") == "number")
    return tiles.with_columns(
        pl.when(after_basis).then(pl.col("lead").shift(1).over(_KEY) + pl.col("lead")).otherwise(pl.col("lead"))
        .alias("_lead"),
        *[pl.when(after_basis).then(pl.col(c).shift(1).over(_KEY)).otherwise(pl.col(c)).alias(f"_{c}")
          for c in ("core_bare", "core_clause")],
    )
