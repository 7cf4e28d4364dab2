"""Thresholds of the checks that are settings rather than data (ranges.csv holds the data ones).

Standard library only: ``flows/settings.py`` reads them from the environment at the edge, and
the suites take them as arguments, so the expectations never import the flows.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CoverageThresholds:
    """When the warehouse suite's ``extraction_coverage_above_threshold`` warns: a document with at
    least ``min_cue_numbers`` numbers with cues whose facts per cue number fall below ``min_share``."""
    min_cue_numbers: int = 5
    min_share: float = 0.2


@dataclass(frozen=True)
class ReextractionThresholds:
    """When the warehouse suite's ``reextraction_retracts_few_facts`` warns: a re-extraction that
    retracted more than ``max_retracted_share`` of the facts a document had."""
    max_retracted_share: float = 0.5
