"""The vocabulary as data: indicators, entities, period words, units and cue words.

Files live in ``transforms/vocab/``; the project owns them and grows them. The
codes seeded from the shared spec keep their meaning.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

VOCAB_DIR = Path(__file__).with_name("vocab")


@dataclass(frozen=True)
class Vocabulary:
    indicators: pl.DataFrame   # code, name_zh, name_en, surface_forms, unit_kind, category, headline, segmented, part_of
    entities: pl.DataFrame     # name, entity_type, parent, aliases (list)
    breakdowns: pl.DataFrame   # surface_form, parent: a part of an indicator, read as parent + segment


def _read_csv(name: str) -> pl.DataFrame:
    return pl.read_csv(VOCAB_DIR / name, infer_schema=False, comment_prefix="#")


@lru_cache(maxsize=1)
def load_vocabulary() -> Vocabulary:
    indicators = _read_csv("indicators.csv")
    entities = _read_csv("entities.csv").with_columns(
        pl.col("parent").replace("", None),
        pl.col("aliases").fill_null("").str.split("|").list.eval(
            pl.element().filter(pl.element() != "")),
    )
    return Vocabulary(indicators=indicators, entities=entities, breakdowns=_read_csv("breakdowns.csv"))

    
def indicator_dimension(vocabulary: Vocabulary) -> pl.DataFrame:
    return vocabulary.indicators.select("code", "name_zh", "name_en", "unit_kind", "category")


def segmented_indicators(vocabulary: Vocabulary) -> set[str]:
    """Codes whose figures name a segment (the ``segmented`` column of indicators.csv)."""
    return set(vocabulary.indicators.filter(pl.col("segmented") == "1")["code"])


def entity_dimension(vocabulary: Vocabulary) -> pl.DataFrame:
    return vocabulary.entities.select("name", "entity_type", "parent", "aliases")


@lru_cache(maxsize=None)
def vocab_rows(name: str, longest_first: bool = False) -> tuple[tuple, ...]:
    """Rows of a two-column vocabulary table; ``longest_first`` sorts by the first column's length."""
    rows = pl.read_csv(VOCAB_DIR / name, comment_prefix="#", infer_schema=False).iter_rows()
    return tuple(sorted(rows, key=lambda r: len(r[0]), reverse=True) if longest_first else rows)


def read_patterns(path: Path) -> list[str]:
    """Non-empty, non-comment lines of a pattern file."""
    return [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]
