"""sentences → mentions → observations: the public entry point of extraction.

``extract(documents, vocabulary)`` takes a frame of parsed documents (columns
document_id, title_source, published_at, text — see transforms.documents; one row per
document_id, as the pipeline's batches are) and returns an ``Extraction`` of five frames:

observations (OBSERVATION_SCHEMA): one row per fact, deduplicated within a document
defects (DEFECT_SCHEMA): numbers whose digits were lost, never stored as facts
unmapped (UNMAPPED_SCHEMA): numbers whose indicator is not in the vocabulary
entities (ENTITY_SCHEMA): every entity the observations name, with its ancestors,
    so the load can register discovered ones in dim_entity
coverage (transforms.coverage.SCHEMA): numbers with cues per document, for extraction_coverage
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from transforms.clean import display_offset, paragraphs
from transforms.context import document_context
from transforms.coverage import SCHEMA as COVERAGE_SCHEMA
from transforms.coverage import coverage
from transforms.discovery import discover
from transforms.distinct import on_distinct
from transforms.entities import SCOPE_PREFIX, base_index, entity_frame
from transforms.enumerations import BREAKDOWN_OF, bind_enumerations
from transforms.groups import GROUP_SEPARATOR, discover_groups
from transforms.measures import assign_measures
from transforms.mentions import Matchers, mentions, split_sentences
from transforms.observations import (
    any_defect_regex, bind_breakdown_lists, bind_comparison_lists, bind_indicators, bind_periods, bind_segments,
    defects, phrase_of, strip_pattern,
)
from transforms.periods import period_label, period_pattern
from transforms.subjects import bind_entities
from transforms.tables import read_tables
from transforms.vocabulary import Vocabulary, load_vocabulary, segmented_indicators

EXTRACTOR_VERSION = "1.0.0"
GAP_MARK = "…"
_GAP = r"[^,，。;；、:：!?！？0-9%]{0,6}"
FACT_MEASURES = ["level", "yoy_pct", "share_pct", "diff_pp", "rank", "target", "yoy_pct_2y_avg"]
ENTERPRISE_OUTPUT = "enterprise_output"

OBSERVATION_SCHEMA = {
    "document_id": pl.String, "entity": pl.String, "entity_type": pl.String,
    "year": pl.Int32, "start_month": pl.Int32, "end_month": pl.Int32, "period_label": pl.String,
    "indicator": pl.String, "segment": pl.String, "measure": pl.String, "value": pl.Float64,
    "unit": pl.String, "qualifier": pl.String, "benchmark": pl.String, "evidence": pl.String,
    "char_start": pl.Int32, "char_end": pl.Int32, "extractor_version": pl.String,
}
DEFECT_SCHEMA = {"document_id": pl.String, "kind": pl.String, "text": pl.String,
                 "sentence": pl.String, "char_start": pl.Int32}
UNMAPPED_SCHEMA = {"document_id": pl.String, "phrase": pl.String, "measure": pl.String,
                   "value": pl.Float64, "unit": pl.String, "evidence": pl.String}
ENTITY_SCHEMA = {"name": pl.String, "entity_type": pl.String, "parent": pl.String,
                 "aliases": pl.List(pl.String)}


@dataclass(frozen=True)
class Extraction:
    observations: pl.DataFrame
    defects: pl.DataFrame
    unmapped: pl.DataFrame
    entities: pl.DataFrame
    coverage: pl.DataFrame  # numbers with cues per document (transforms.coverage)


def _empty() -> Extraction:
    return Extraction(pl.DataFrame(schema=OBSERVATION_SCHEMA), pl.DataFrame(schema=DEFECT_SCHEMA),
                      pl.DataFrame(schema=UNMAPPED_SCHEMA), pl.DataFrame(schema=ENTITY_SCHEMA),
                      pl.DataFrame(schema=COVERAGE_SCHEMA))


def _indicator_forms(vocabulary: Vocabulary) -> tuple[dict[str, str], list[tuple[str, str]], str]:
    """Surface form → code. A breakdown's form maps to ``BREAKDOWN_OF + parent``: the parent's
    code with the form itself as segment (bind_indicators splits the two)."""
    exact, gaps = {}, []
    pairs = [(code, form) for code, forms in vocabulary.indicators.select("code", "surface_forms").iter_rows()
             for form in forms.split("|")]
    pairs += [(BREAKDOWN_OF + parent, form) for form, parent in vocabulary.breakdowns.iter_rows()]
    for code, form in pairs:
        if GAP_MARK in form:
            gaps.append(("^" + _GAP.join(re.escape(part) for part in form.split(GAP_MARK)) + "$", code))
        elif form:
            exact[form] = code
    alternatives = sorted(exact, key=len, reverse=True)
    gap_regexes = [p[1:-1] for p, _ in gaps]
    pattern = "(?:" + "|".join(gap_regexes + [re.escape(f) for f in alternatives]) + ")"
    return exact, gaps, pattern


def extract(documents: pl.DataFrame, vocabulary: Vocabulary | None = None) -> Extraction:
    vocabulary = vocabulary or load_vocabulary()
    if documents.height == 0:
        return _empty()
    paras = read_tables(paragraphs(documents))
    texts = paras.get_column("norm")
    index = discover_groups(texts, discover(texts, base_index(vocabulary)))
    surface_to_code, gap_forms, indicator_pattern = _indicator_forms(vocabulary)
    context = document_context(documents, paras, index)
    entity_pattern = index.pattern(include_ambiguous=True)
    groups = frozenset(f for f in index.forms_to_match()
                       if index.canonical[f].startswith(SCOPE_PREFIX) and GROUP_SEPARATOR in index.canonical[f])
    matchers = Matchers(entity=entity_pattern, indicator=indicator_pattern,
                        strip=strip_pattern(entity_pattern, period_pattern()),
                        strip_plain=strip_pattern(entity_pattern, period_pattern(), basis=False), groups=groups)
    sentences = split_sentences(paras)
    # every sentence is read for defects
    sentence_rows = sentences.filter(~pl.col("title_only")).select(
        "document_id", "para_no", "sentence", "sentence_display", "sent_start", "norm_to_display")
    tiles = bind_indicators(mentions(sentences, matchers), surface_to_code, gap_forms)
    tiles = bind_breakdown_lists(bind_enumerations(tiles, surface_to_code, index))
    tiles = bind_segments(tiles, segmented_indicators(vocabulary), index)
    tiles = bind_periods(tiles, documents)
    tiles = bind_entities(tiles, index, context)
    # from here on only the number tiles are read (each step below reads and sets a number's own row)
    numbers = assign_measures(tiles.select(_MEASURED_COLUMNS).filter(pl.col("tile_kind") == "number"))
    listed = bind_comparison_lists(numbers, index)
    if listed is not numbers:  # sorted by document (observations._ORDER): the sentences follow
        sentence_rows = sentence_rows.sort("document_id", "para_no", "sent_start", maintain_order=True)
    numbers = _enterprise_segments(listed, index)

    # a metadata title not in the text gives the period and subject, never a fact; the numbers
    # carry only the columns read from here on (a filter copies every column it keeps)
    clean = ~pl.col("lost_digits").fill_null(False) & ~pl.col("tile").str.contains(any_defect_regex())
    numbers = numbers.select(_NUMBER_COLUMNS).filter(~pl.col("title_only") & clean)
    facts = numbers.filter(pl.col("measure").is_in(FACT_MEASURES) & pl.col("indicator").is_not_null()
                           & pl.col("entity").is_not_null() & pl.col("value").is_not_null())
    observations = _finish(facts, index)
    unmapped = _unmapped(numbers)
    found_defects = defects(sentence_rows)
    entities = entity_frame(index, set(observations.get_column("entity").to_list())
                            | set(observations.get_column("benchmark").drop_nulls().to_list()))
    return Extraction(observations, found_defects, unmapped, entities, coverage(documents, paras))


# what assign_measures, bind_comparison_lists and _enterprise_segments read of the tiles, and
# the numbers' filters, _finish and _unmapped after them (a filter copies every column it keeps)
_MEASURED_COLUMNS = [
    "document_id", "para_no", "sent_no", "sent_id", "tile_no", "tile_kind", "title_only", "tile", "lost_digits",
    "lead", "next_lead", "previous_period_phrase", "kind", "value", "unit", "suffix_qualifier", "yoy_dir", "diff",
    "share", "avg2y", "qpre", "rank_verb", "rank_bench", "parity", "is_class_word", "benchmark_cue",
    "benchmark_parity", "benchmark_rank", "indicator", "entity", "entity_type", "segment", "year", "sentence_year",
    "start_month", "end_month", "sentence", "sentence_display", "sent_start", "norm_to_display", "tile_start",
    "tile_end", "evidence_start", "residue",
]
# what the numbers' filters, _finish and _unmapped read of the tiles
_NUMBER_COLUMNS = [
    "document_id", "tile_kind", "title_only", "tile", "lost_digits", "measure", "indicator", "entity", "entity_type",
    "value", "unit", "qualifier", "benchmark", "segment", "year", "sentence_year", "start_month", "end_month",
    "sentence", "sentence_display", "sent_start", "norm_to_display", "tile_start", "tile_end", "evidence_start",
    "residue",
]


def _enterprise_segments(tiles: pl.DataFrame, index) -> pl.DataFrame:
    """A segment that names a known enterprise (华润微电子产值…) is that enterprise's own output."""
    # only the segments that name an enterprise are looked up (the index holds the whole gazetteer)
    named = {form: index.canonical[form] for form in tiles.get_column("segment").drop_nulls().unique().to_list()
             if index.entity_type.get(index.canonical.get(form, "")) == "enterprise"}
    enterprise = pl.col("segment").replace_strict(named, default=None, return_dtype=pl.String)
    is_enterprise = enterprise.is_not_null()
    return tiles.with_columns(
        pl.when(is_enterprise).then(enterprise).otherwise(pl.col("entity")).alias("entity"),
        pl.when(is_enterprise).then(pl.lit("enterprise")).otherwise(pl.col("entity_type")).alias("entity_type"),
        pl.when(is_enterprise).then(pl.lit(ENTERPRISE_OUTPUT)).otherwise(pl.col("indicator")).alias("indicator"),
        pl.when(is_enterprise).then(None).otherwise(pl.col("segment")).alias("segment"),
    )


def _finish(facts: pl.DataFrame, index) -> pl.DataFrame:
    targets = pl.col("measure") == "target"
    start = pl.when(targets).then(None).otherwise(pl.col("start_month")).cast(pl.Int32)
    end = pl.when(targets).then(None).otherwise(pl.col("end_month")).cast(pl.Int32)
    year = pl.when(targets & pl.col("sentence_year").is_not_null()).then(pl.col("sentence_year")).otherwise(pl.col("year"))
    # offsets are read in norm; evidence and char_start/char_end are in the paragraph as found
    first = display_offset(pl.col("sent_start") + pl.col("evidence_start").fill_null(pl.col("tile_start")))
    last = display_offset(pl.col("sent_start") + pl.col("tile_end"))
    char_start, char_end = first.cast(pl.Int32), last.cast(pl.Int32)
    evidence = pl.col("sentence_display").str.slice(first - display_offset(pl.col("sent_start")), last - first
                                                    ).str.strip_chars(" ,，、;；:：")
    # a defect in what the fact was read from keeps it out, even in an earlier tile whose
    # indicator it carries ("**产业增加值80.7亿元，增长3.7%": the 3.7 has no readable indicator)
    evidence_start = pl.col("evidence_start").fill_null(pl.col("tile_start"))
    defective = pl.col("sentence").str.slice(evidence_start, pl.col("tile_end") - evidence_start).str.contains(
        any_defect_regex())
    facts = facts.filter(~pl.col("entity").str.starts_with(SCOPE_PREFIX) & ~defective)
    families = {n: index.family(n) for n in facts.get_column("entity").drop_nulls().unique().to_list()}
    family = pl.col("entity").replace_strict(families, default=pl.col("entity"),
                                             return_dtype=pl.String)
    # from here on only what an observation holds (and its family) is carried
    facts = facts.select(
        "document_id", "entity", "entity_type", year.cast(pl.Int32).alias("year"), start.alias("start_month"),
        end.alias("end_month"), "indicator", "segment", "measure", "value", "unit", "qualifier", "benchmark",
        evidence.alias("evidence"), char_start.alias("char_start"), char_end.alias("char_end"), family.alias("family"),
    )
    # The same statement repeated in a document (headline, body, data box) is one observation;
    # a repeat that lost its period in a box is the same statement as the one that kept it.
    facts = _drop_rounded_restatements(facts)
    statement = ["document_id", "family", "indicator", "segment", "measure", "value"]
    has_period = pl.col("start_month").is_not_null()
    if not facts.select(has_period.all()).item():  # the window only matters where a period is missing
        facts = facts.filter(has_period | ~has_period.any().over(statement))
    facts = facts.unique(subset=[*statement, "year", "start_month", "end_month", "benchmark"], keep="first",
                         maintain_order=True)
    # a batch states a few dozen distinct periods: each is labelled once
    facts = on_distinct(facts, ["year", "start_month", "end_month"], lambda periods: periods.with_columns(
        period_label(pl.col("year"), pl.col("start_month"), pl.col("end_month")).alias("period_label")))
    return facts.with_columns(pl.lit(EXTRACTOR_VERSION).alias("extractor_version")) \
        .select(list(OBSERVATION_SCHEMA)).cast(OBSERVATION_SCHEMA)


_SAME_FACT = ["document_id", "entity", "indicator", "segment", "measure", "year", "start_month", "end_month"]


def _drop_rounded_restatements(facts: pl.DataFrame) -> pl.DataFrame:
    """"突破2000亿元" in a headline and "2036.5亿元" in the body (or "突破千亿元，达到1052亿元",
    "增长超过10%" and "增长10.7%") are one fact: a rounded bound or approximation of a level stated exactly elsewhere in the
    document, for the same subject and period, is not a second observation."""
    exact = facts.filter(pl.col("qualifier") == "exact").select(*_SAME_FACT, pl.col("value").alias("exact_value"))
    if exact.height == 0:
        return facts
    facts = facts.with_row_index("_row")
    rounded = facts.filter(pl.col("qualifier").is_in(["at_least", "about"]))
    value, exact_value = pl.col("value"), pl.col("exact_value")
    restating = rounded.join(exact, on=_SAME_FACT, nulls_equal=True).filter(
        pl.when(pl.col("qualifier") == "at_least").then((exact_value >= value) & (exact_value <= 1.5 * value))
        .otherwise((exact_value - value).abs() <= 0.1 * value)
    ).get_column("_row").unique()
    return facts.filter(~pl.col("_row").is_in(restating.implode())).drop("_row")


def _unmapped(numbers: pl.DataFrame) -> pl.DataFrame:
    named_unknown = (pl.col("indicator").is_null() & (pl.col("residue").str.len_chars() > 0)
                     & pl.col("measure").is_in(FACT_MEASURES) & (pl.col("value") != 1))
    return numbers.filter(named_unknown).select(
        "document_id",
        phrase_of(pl.col("residue")).alias("phrase"),
        "measure", "value", "unit",
        pl.col("sentence_display").str.slice(0, display_offset(pl.col("sent_start") + pl.col("tile_end"))
                                             - display_offset(pl.col("sent_start")))
        .str.extract(r"([^,，;；。]*)$", 1).alias("evidence"),
    ).filter(pl.col("phrase").is_not_null() & (pl.col("phrase") != "")).cast(UNMAPPED_SCHEMA)
