"""mentions → subjects: the entity every number is about, and the benchmark its cue names.

``bind_entities(tiles, index, context)`` sets ``entity``, ``entity_type`` and the benchmark
columns of every tile. The subject of a number is, first found:

1. the place named in its clause or earlier in its paragraph (``para_entity``);
2. the subject of the last section heading;
3. the document's subject: its title's, else the lead paragraphs', else the place its
   source URL names (``context.url_subject``), else the first place it names anywhere, else
   中国 when it speaks only of 全国.

全市/全区/全省/全国 and 我市/该区 mean the document's subject at that level, or its
containing unit (FACT_MODEL). A name several entities share (朝阳区, 滨海新区, 高新区,
保税区) means the one lying in a place the document names (``context.context_places``);
unresolved, a generic zone word stays as the text names it, and a shared place name names
no subject rather than a guessed one.
"""
from __future__ import annotations

import re

import polars as pl

from transforms import gazetteer
from transforms.distinct import looked_up
from transforms.entities import SCOPE_PREFIX, EntityIndex, plausible_name
from transforms.groups import GROUP_SEPARATOR, group_entity
from transforms.runs import filled, filled_by_id

# "高于全省平均水平（4.6%）": the benchmark whose own rate stands in the brackets (captured)
_WHOLE_SCOPES = ("全国", "全省", "全市", "全区")
BENCHMARK_IN_BRACKETS = f"({'|'.join(_WHOLE_SCOPES)})(?:平均水平|平均增速|平均|水平|增速)?[(（]$"
LEAD_PARAGRAPHS = 3  # the title and the first paragraphs: what a reader takes as the article's frame


def _shared_names(tiles: pl.DataFrame, index: EntityIndex, context: pl.DataFrame) -> pl.DataFrame:
    """document_id, entity_form → canonical for the shared forms the documents use."""
    pairs = tiles.select("document_id", "entity_form").filter(pl.col("entity_form").is_in(list(index.ambiguous))) \
        .unique()
    places = dict(context.filter(pl.col("document_id").is_in(pairs.get_column("document_id").implode()))
                  .select("document_id", "context_places").iter_rows())
    generic = gazetteer.zone_words()
    rows = []
    for document_id, form in pairs.iter_rows():
        name = index.resolve(form, places.get(document_id) or ())
        if name is None and form in generic:
            name = form  # 保税区 in a text that names no place: as the text names it, never guessed
            index.entity_type.setdefault(name, "zone")
            index.parent.setdefault(name, None)
        rows.append((document_id, form, name))
    return pl.DataFrame(rows, schema={"document_id": pl.String, "entity_form": pl.String, "_shared": pl.String},
                        orient="row")


def _document_subjects(tiles: pl.DataFrame, context: pl.DataFrame) -> pl.DataFrame:
    """document_id → doc_subject for every document of ``context``, in one pass over the tiles
    that name something (in order)."""
    own = pl.col("entity_own")
    # a generic word nothing resolved (保税区) is the subject only when nothing better is named
    generic = own.is_in(list(gazetteer.zone_words()))
    real = own.is_not_null() & ~own.str.starts_with(SCOPE_PREFIX) & ~generic
    title = pl.when(pl.col("is_title") & real).then(own).drop_nulls().first()
    lead = pl.when(~pl.col("is_title") & (pl.col("para_no") < LEAD_PARAGRAPHS) & real).then(own).drop_nulls().first()
    anywhere = pl.when(real).then(own).drop_nulls().first()
    national = pl.when((own == SCOPE_PREFIX + "country").any()).then(pl.lit("中国"))
    unresolved = pl.when(generic).then(own).drop_nulls().first()
    named = tiles.select("document_id", "is_title", "para_no", "entity_own").filter(own.is_not_null()) \
        .group_by("document_id").agg(title.alias("_title"), lead.alias("_lead"), anywhere.alias("_anywhere"),
                                     unresolved.alias("_unresolved"), national.alias("_national"))
    return looked_up(context.select("document_id", "url_subject"), named, ["document_id"]).select(
        "document_id",
        pl.coalesce("_title", "_lead", "url_subject", "_anywhere", "_unresolved", "_national").alias("doc_subject"))


def bind_entities(tiles: pl.DataFrame, index: EntityIndex, context: pl.DataFrame) -> pl.DataFrame:
    tiles = looked_up(tiles, _shared_names(tiles, index, context), ["document_id", "entity_form"])
    # the forms the tiles name, not the whole gazetteer, make the lookup table
    forms = {f: index.canonical[f] for f in tiles.get_column("entity_form").drop_nulls().unique().to_list()
             if f in index.canonical}
    canonical = pl.col("entity_form").replace_strict(forms, default=None, return_dtype=pl.String)
    tiles = tiles.with_columns(pl.coalesce("enum_entity", "_shared", canonical).alias("entity_own")).drop("_shared")
    tiles = looked_up(tiles, _document_subjects(tiles, context), ["document_id"]).with_columns(
        filled_by_id(pl.col("entity_own"), "para_id").alias("para_entity"),
        # a heading's or title's own subject; its 全市 (领跑全市) is a benchmark, not a subject
        filled(pl.when(pl.col("is_heading") | pl.col("is_title")).then(
            filled_by_id(pl.when(~pl.col("entity_own").str.starts_with(SCOPE_PREFIX)).then(pl.col("entity_own")), "para_id")),
            "document_id").alias("heading_entity"),
    )
    # "高于全省平均水平（4.6%）": the bracketed rate is the benchmark's own, and names no subject for later numbers
    bracketed = pl.col("lead").str.extract(BENCHMARK_IN_BRACKETS, 1)
    scopes = {w: index.canonical[w] for w in _WHOLE_SCOPES if w in index.canonical}
    subject = pl.coalesce(bracketed.replace_strict(scopes, default=None, return_dtype=pl.String),
                          "para_entity", "heading_entity", "doc_subject")
    tiles = tiles.with_columns(subject.alias("subject_raw"))
    # 全市 and friends, and benchmarks, need the hierarchy: resolved on the distinct combinations
    keys = ["subject_raw", "doc_subject", "cue", "rank_cue", "parity_cue"]
    resolved = []
    for subject_raw, doc_subject, cue, rank_cue, parity_cue in tiles.select(keys).unique().iter_rows():
        subject = _resolve_scope(subject_raw, doc_subject, index)
        resolved.append((subject_raw, doc_subject, cue, rank_cue, parity_cue, subject,
                         index.entity_type.get(subject) if subject else None, benchmark_of(cue, subject, index),
                         benchmark_of(rank_cue, subject, index), benchmark_of(parity_cue, subject, index)))
    outputs = ["entity", "entity_type", "benchmark_cue", "benchmark_rank", "benchmark_parity"]
    table = pl.DataFrame(resolved, schema={c: pl.String for c in keys + outputs}, orient="row")
    return looked_up(tiles, table, keys)


def _resolve_scope(name: str | None, doc_subject: str | None, index: EntityIndex) -> str | None:
    if name is None or not name.startswith(SCOPE_PREFIX):
        return name
    scope = name[len(SCOPE_PREFIX):]
    if GROUP_SEPARATOR in scope:
        return group_entity(scope, doc_subject, index)
    return index.scope_target(scope, doc_subject)


def benchmark_of(text: str | None, subject: str | None, index: EntityIndex) -> str | None:
    if not text:
        return None
    forms = sorted(index.forms_within(text), key=len, reverse=True)
    named = [index.canonical[f] for f in forms if not index.canonical[f].startswith(SCOPE_PREFIX)]
    if named:
        return named[0]
    scopes = [index.canonical[f] for f in forms]
    if scopes:
        return index.scope_target(scopes[0][len(SCOPE_PREFIX):], subject)
    # an unlisted comparison group (主城都市区) is kept verbatim
    bare = re.sub(r"^(?:分别|均|都|还)?(?:位居|位列|居于|排名|排在|居|排|列|高于|低于|快于|慢于|高出|领先|落后|占|和|与|同)?", "", text)
    bare = re.sub(r"(?:平均水平|平均增速|平均|增速|水平|比重|比例|的|达到|达|为)+$", "", bare)
    return bare if 2 <= len(bare) <= 8 and plausible_name(bare) else None  # not 仍保持在, 外贸总值
