"""The ``warehouse`` suite: checks on the loaded warehouse, through read-only queries.

Three GX suites report as ``warehouse``: the facts (key integrity, error; conflicts across
documents, warning), the documents (duplicate text and extraction coverage, warnings) and the
internal consistency of the facts (warnings), each consistency check the rows of its own SQL
file under ``expectations/sql/``.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import polars as pl

from expectations.declarations import Check, Suite, between, not_null, param, read_sql, unique
from expectations.engine import sql_rows, validate
from expectations.results import ERROR, WARNING, ExpectationResult, merge_results
from expectations.thresholds import CoverageThresholds, ReextractionThresholds
from transforms.vocabulary import load_vocabulary

WAREHOUSE = "warehouse"
COVERAGE_CHECK = "extraction_coverage_above_threshold"
PARTS_TOLERANCE = 0.02                # parts vs total, relative
DIFF_PP_TOLERANCE = 0.15              # zone yoy − benchmark yoy vs stated diff_pp, in pp

# The facts suite reads the facts in parts of about this many rows, so its memory does not grow
# with the warehouse. A part is a hash range of (entity, period, indicator): the facts that can
# conflict with each other are always in the same part, and observation_id is the table's key.
FACTS_PER_PART = 250_000


def _resolves(column: str, table: str, id_column: str) -> Check:
    return Check(f"fk_{column}_resolves", ERROR, f"every fact_observation row finds its {table} row",
                 expect=(not_null(column),), detail=f"{id_column} {{{id_column}}} not in {table}")


FACT_CHECKS = (
    Check("observation_id_unique", ERROR, "observation_id is unique in fact_observation",
          expect=(unique("observation_id"),), detail="observation_id appears more than once"),
    _resolves("document", "documents", "document_id"),
    _resolves("entity", "dim_entity", "entity_id"),
    _resolves("period", "dim_period", "period_id"),
    _resolves("indicator", "dim_indicator", "indicator_id"),
    Check("fk_benchmark_resolves", ERROR, "benchmark_entity_id, when set, finds its dim_entity row",
          expect=(not_null("benchmark_if_set"),), detail="benchmark_entity_id {benchmark_entity_id} not in dim_entity"),
    Check("observations_agree_across_documents", WARNING,
          "no other document states a different exact value for the same entity, period, indicator, "
          "measure, segment, benchmark and unit", expect=(between("conflicting_values", 0, 0),),
          detail="other documents state a different value: {conflicting_documents}",
          extra={"conflict": "{conflict_key}"}, group="conflict_key", order=("conflict_key", "document", "value")),
)

_DEFAULTS = CoverageThresholds()
DOCUMENT_CHECKS = (
    Check("document_text_unique", WARNING,
          "no two loaded documents (different sha256 / path) have exactly the same text",
          expect=(between("same_text_documents", 0, 0),), detail="same text as {duplicate_of}"),
    # the share threshold is a suite parameter, so the suite built once per process serves any setting
    Check(COVERAGE_CHECK, WARNING,
          f"a document with at least ZONEFACTS_COVERAGE_MIN_CUE_NUMBERS (default {_DEFAULTS.min_cue_numbers}) "
          f"numbers with cues yields at least ZONEFACTS_COVERAGE_MIN_SHARE (default {_DEFAULTS.min_share:g}) "
          "facts per cue number (view extraction_coverage): below it the extractor cannot read the document",
          expect=(between("coverage_share", param("coverage_min_share"), None),),
          # documents stating fewer figures than min_cue_numbers are not judged (null is not checked)
          derive={"coverage_share": pl.when(pl.col("cue_numbers") >= pl.col("min_cue_numbers")).then(pl.col("share"))},
          detail="{document}: {facts} facts for {cue_numbers} numbers with cues (share {share:.2f} < {min_share:g})",
          # the documents stating the most figures first: where the reader misses most
          order=("-cue_numbers", "document")),
)


def parts_of(total: str) -> list[str]:
    """The indicators that are parts of ``total`` (indicators.csv, column part_of), in file order."""
    indicators = load_vocabulary().indicators
    return indicators.filter(pl.col("part_of") == total).get_column("code").to_list()


def parts_check(name: str, total: str) -> Check:
    """``total`` = the sum of its parts, for levels of the same entity, period and unit."""
    parts = parts_of(total)
    return Check(name, WARNING,
                 f"{' + '.join(parts)} = {total} (levels, same entity / period / unit) within {PARTS_TOLERANCE:.0%}",
                 expect=(between("gap", 0, PARTS_TOLERANCE),), sql="parts_sum_to_total.sql",
                 params={"total": total, "parts": parts},
                 detail="{parts} = {parts_sum} vs {total_indicator} {total} ({unit})", order=("-gap",))


CONSISTENCY_CHECKS = (
    parts_check("trade_parts_sum_to_total", "foreign_trade"),
    parts_check("gdp_parts_sum_to_total", "gdp"),
    Check("diff_pp_matches_benchmark_growth", WARNING,
          f"zone yoy − benchmark yoy = stated diff_pp within {DIFF_PP_TOLERANCE} pp when the benchmark's "
          "yoy for that indicator and period is in the warehouse",
          expect=(between("gap", 0, DIFF_PP_TOLERANCE),), sql="diff_pp_matches_benchmark_growth.sql",
          detail="zone yoy {zone_yoy} − benchmark yoy {benchmark_yoy} = {difference} vs stated diff {value} pp",
          order=("-gap",)),
    # the share is a suite parameter, as the coverage threshold is
    Check("reextraction_retracts_few_facts", WARNING,
          f"a re-extraction retracts at most ZONEFACTS_REEXTRACTION_MAX_RETRACTED_SHARE (default "
          f"{ReextractionThresholds().max_retracted_share:g}) of a document's facts: more means a rule or "
          "vocabulary change broke reading it (view reextraction_impact)",
          expect=(between("retracted_share", None, param("reextraction_max_retracted_share")),),
          sql="reextraction_retracts_few_facts.sql",
          detail="{document}: re-extraction under {fingerprint} retracted {retracted} of {facts_before} facts",
          order=("-retracted_share", "document")),
)

_FACT_FIELDS = ("document", "document_id", "observation_id", "entity", "period", "indicator", "segment", "measure",
                "value", "unit", "benchmark", "evidence")
FACTS = Suite("warehouse_facts", WAREHOUSE, FACT_CHECKS, index=("observation_id", "evidence"),
              sample={c: c for c in _FACT_FIELDS})
DOCUMENTS = Suite("warehouse_documents", WAREHOUSE, DOCUMENT_CHECKS,
                  index=("document", "duplicate_of", "cue_numbers", "facts"),
                  sample={"document": "document", "document_id": "document_id", "evidence": "head"})
CONSISTENCY = Suite("warehouse_consistency", WAREHOUSE, CONSISTENCY_CHECKS, index=("document", "evidence"),
                    sample={c: c for c in ("document", "observation_id", "evidence", "related_documents",
                                           "related_evidence", "gap")})
SUITES = (FACTS, DOCUMENTS, CONSISTENCY)


def _query(con, sql: str) -> pl.DataFrame:
    frame = con.sql(sql).pl()
    return frame.with_row_index("row_id").with_columns(pl.col("row_id").cast(pl.Int64))


def _facts_sql(parts: int, part: int) -> str:
    in_part = f"hash(f.entity_id, f.period_id, f.indicator_id) % {parts} = {part}" if parts > 1 else "true"
    return read_sql("facts.sql").replace("{in_part}", in_part)


def _with_fact_details(con, failing: pl.DataFrame) -> pl.DataFrame:
    """The failing facts with the columns of ``fact_details.sql``, in their order."""
    con.register("failing_facts", failing.select("observation_id", "conflict_key"))
    try:
        found = con.sql(read_sql("fact_details.sql")).pl().unique("observation_id", keep="first", maintain_order=True)
    finally:
        con.unregister("failing_facts")
    return failing.join(found, on="observation_id", how="left", maintain_order="left")


def validate_warehouse(con, coverage: CoverageThresholds = CoverageThresholds(),
                       reextraction: ReextractionThresholds = ReextractionThresholds()) -> list[ExpectationResult]:
    """Validate the loaded warehouse through ``con`` (read-only queries) against the ``warehouse`` suite;
    ``coverage`` sets when a document's extraction coverage is too low, ``reextraction`` when a
    re-extraction retracted too much of a document."""
    n_facts = con.execute("SELECT count(*) FROM fact_observation").fetchall()[0][0]
    parts = max(1, -(-n_facts // FACTS_PER_PART))
    results: list[ExpectationResult] = []
    # DuckDB answers the document and consistency queries on a cursor of its own while GX, which
    # holds the GIL, evaluates the facts here
    with con.cursor() as cursor, ThreadPoolExecutor(max_workers=1) as pool:
        documents = pool.submit(_query, cursor, read_sql("documents.sql"))
        consistency = pool.submit(sql_rows, CONSISTENCY, cursor)
        for part in range(parts):
            facts = _query(con, _facts_sql(parts, part))
            results += validate(FACTS, facts, details=lambda failing: _with_fact_details(con, failing)).results
            del facts
        documents, consistency = documents.result(), consistency.result()
    documents = documents.with_columns(pl.lit(coverage.min_cue_numbers).alias("min_cue_numbers"),
                                       pl.lit(coverage.min_share).alias("min_share"))
    results += validate(DOCUMENTS, documents, {"coverage_min_share": coverage.min_share}).results
    results += validate(CONSISTENCY, consistency,
                        {"reextraction_max_retracted_share": reextraction.max_retracted_share}).results
    return merge_results(results)
