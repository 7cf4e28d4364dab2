"""Great Expectations suites, declared in code and versioned with the repo: the public names.

Three suites, each check declared once (``expectations.engine.Check``) and tagged with a stable
name and a severity:

* ``observations`` (``observation_checks``) — a batch's staged observations. Error failures
  move the row to quarantine; warning failures are listed in its ``dq_flags``.
* ``documents`` (``document_checks``) — a run's parsed documents and their digit-loss defects
  (all warnings: documents are filtered at ingest already).
* ``warehouse`` (``warehouse_checks``) — the loaded warehouse: key integrity (error),
  cross-document conflicts, internal consistency and extraction coverage (warning).

``expectations.engine`` turns the declarations into GX suites, samples and details,
``expectations.docs`` into Data Docs. This module re-exports what the flows import.
"""
from __future__ import annotations

from expectations import engine
from expectations.docs import build_data_docs, data_docs_index, docs_run, render_data_docs, validate_for_docs
from expectations.document_checks import (
    DOCUMENTS, LOST_DIGITS_PER_1000_CHARS, document_stats, prepare_documents, validate_document_stats,
    validate_documents,
)
from expectations.declarations import Check, ExpectationError, Suite
from expectations.observation_checks import (
    CLEAN_SCHEMA, IMPLIED_BENCHMARK_CHECK, OBSERVATIONS, QUARANTINE_SCHEMA, ObservationValidation, outside_column,
    prepare_observations, validate_observations,
)
from expectations.observation_checks import SUITE as OBSERVATION_SUITE
from expectations.document_checks import SUITE as DOCUMENT_SUITE
from expectations.warehouse_checks import (
    COVERAGE_CHECK, DIFF_PP_TOLERANCE, FACTS_PER_PART, PARTS_TOLERANCE, WAREHOUSE, validate_warehouse,
)
from expectations.warehouse_checks import SUITES as WAREHOUSE_SUITES

SUITES: tuple[Suite, ...] = (OBSERVATION_SUITE, DOCUMENT_SUITE, *WAREHOUSE_SUITES)


def warm_up() -> None:
    """Import GX and build its context and every suite ahead of the first validation (it takes
    ~10 s); the validation process calls this while the run starts."""
    engine.warm_up(SUITES)


__all__ = [
    "CLEAN_SCHEMA", "COVERAGE_CHECK", "Check", "DIFF_PP_TOLERANCE", "DOCUMENTS", "ExpectationError",
    "FACTS_PER_PART", "IMPLIED_BENCHMARK_CHECK", "LOST_DIGITS_PER_1000_CHARS", "OBSERVATIONS", "ObservationValidation",
    "PARTS_TOLERANCE", "QUARANTINE_SCHEMA", "SUITES", "Suite", "WAREHOUSE", "build_data_docs", "data_docs_index",
    "docs_run", "render_data_docs", "validate_for_docs",
    "document_stats", "outside_column", "prepare_documents", "prepare_observations", "validate_document_stats",
    "validate_documents", "validate_observations", "validate_warehouse", "warm_up",
]
