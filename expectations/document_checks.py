"""The ``documents`` suite: checks on a run's parsed documents and their digit-loss defects.

All warnings: unreadable documents are quarantined at ingest already. A run keeps
``document_stats`` for every document (not the text) and validates them once.
"""
from __future__ import annotations

import polars as pl

from expectations.declarations import Check, Suite, between
from expectations.engine import validate
from expectations.results import WARNING, ExpectationResult

DOCUMENTS = "documents"
LOST_DIGITS_PER_1000_CHARS = 2.0      # defects (numbers whose digits were lost) per 1000 characters

CHECKS = (
    Check("text_has_no_replacement_chars", WARNING, "text has no U+FFFD replacement characters",
          expect=(between("replacement_chars", 0, 0),),
          evidence="{replacement_snippet}", detail="{replacement_chars} U+FFFD replacement characters"),
    Check("text_not_empty", WARNING, "text is not empty once whitespace is removed",
          expect=(between("clean_chars", 1, None),),
          evidence="{text_head:.40}", detail="no text left once whitespace is removed"),
    Check("lost_digit_rate_below_threshold", WARNING,
          f"at most {LOST_DIGITS_PER_1000_CHARS:g} numbers with lost digits per 1000 characters",
          expect=(between("defects_per_1000_chars", 0, LOST_DIGITS_PER_1000_CHARS),),
          evidence="{defect_example}",
          detail="{defects} numbers with lost digits in {text_chars} characters "
                 f"({{defects_per_1000_chars:.2f}} per 1000 > {LOST_DIGITS_PER_1000_CHARS:g})"),
    Check("text_not_duplicate", WARNING, "no other document of the batch has exactly the same text",
          expect=(between("same_text_documents", 0, 0),), detail="same text as {duplicate_of}"),
)

SUITE = Suite(DOCUMENTS, DOCUMENTS, CHECKS, index=("document", "document_id"),
              sample={"document": "document", "document_id": "document_id", "evidence": "text_head"})


def document_stats(documents: pl.DataFrame, defects: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per-document figures the documents suite checks, without the text itself: a run keeps
    these for every document and validates them once, in bounded memory."""
    text_col = "text" if "text" in documents.columns else "raw_text"
    label = pl.coalesce([pl.col(c).cast(pl.String) for c in ("path", "stem", "document_id") if c in documents.columns])
    frame = documents.select(
        pl.col("document_id").cast(pl.String), label.alias("document"),
        (pl.col("sha256").cast(pl.String) if "sha256" in documents.columns else pl.lit(None, pl.String)).alias("sha256"),
        pl.col(text_col).cast(pl.String).fill_null("").alias("text"),
    )
    if defects is not None and defects.height:
        per_doc = defects.group_by("document_id").agg(
            pl.len().alias("defects"),
            pl.col("text").first().alias("defect_example"))
    else:
        per_doc = pl.DataFrame(schema={"document_id": pl.String, "defects": pl.UInt32, "defect_example": pl.String})
    frame = frame.join(per_doc, on="document_id", how="left", maintain_order="left")
    # character offset of the first U+FFFD (str.find counts bytes)
    at = pl.col("text").str.split("\ufffd").list.first().str.len_chars().fill_null(0).cast(pl.Int64)
    return frame.with_columns(
        pl.col("text").str.len_chars().alias("text_chars"),
        pl.col("text").str.count_matches("\ufffd", literal=True).alias("replacement_chars"),
        pl.col("text").str.slice(pl.max_horizontal(at - 30, 0), 60).alias("replacement_snippet"),
        pl.col("text").str.slice(0, 60).alias("text_head"),
        pl.col("text").str.replace_all(r"[\s\u200b-\u200d\u2060\ufeff]", "").str.len_chars().alias("clean_chars"),
        pl.col("defects").fill_null(0).cast(pl.Int64),
        pl.col("text").hash().alias("text_hash"),
    ).with_columns(
        (pl.col("defects") * 1000.0 / pl.max_horizontal(pl.col("text_chars"), 1)).alias("defects_per_1000_chars"),
    ).drop("text")


def prepare_documents(stats: pl.DataFrame) -> pl.DataFrame:
    """Add the row_id, key and duplicate-text columns across all the documents given."""
    frame = stats.with_row_index("row_id").with_columns(pl.col("row_id").cast(pl.Int64),
                                                         pl.col("document_id").alias("key"),
                                                         pl.col("defect_example").fill_null(""))
    groups = frame.group_by("text_hash").agg(pl.col("document").alias("same_text"), pl.col("document_id").alias("ids"))
    frame = frame.join(groups, on="text_hash", how="left", maintain_order="left").with_columns(
        pl.col("same_text").list.set_difference(pl.concat_list(pl.col("document"))).list.join(", ").alias("duplicate_of"),
        (pl.col("ids").list.n_unique() - 1).alias("same_text_documents"),
    ).drop("same_text", "ids")
    return frame.sort("row_id")


def validate_documents(documents: pl.DataFrame, defects: pl.DataFrame | None = None) -> list[ExpectationResult]:
    """Validate one batch of parsed documents (document_id, text, optional path / sha256) and the
    extractor's defects (DEFECT_SCHEMA) against the ``documents`` suite (all warnings)."""
    return validate_document_stats(document_stats(documents, defects))


def validate_document_stats(stats: pl.DataFrame) -> list[ExpectationResult]:
    """The documents suite over ``document_stats`` rows (one run's documents, any number of batches)."""
    return validate(SUITE, prepare_documents(stats)).results
