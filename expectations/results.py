"""The outcome of one expectation, independent of Great Expectations (cheap to import).

``ExpectationResult`` is what the suites return, what ``record_results`` stores in
``dq_results`` and what ``flows.alerts`` sends. It is plain data: the GX results it
was built from ride along (trimmed, as JSON dicts) only so that Data Docs can be
rendered later.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

ERROR = "error"
WARNING = "warning"
SEVERITIES = (ERROR, WARNING)
SAMPLE_SIZE = 5


def fingerprint(suite: str, expectation: str, keys: Iterable[str]) -> str:
    """Stable hash of the suite, the expectation and the sorted keys of the failing records."""
    blob = json.dumps([suite, expectation, sorted(set(keys))], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class ExpectationResult:
    suite: str                       # observations | documents | warehouse
    expectation: str                 # stable name, e.g. yoy_pct_range_gdp
    severity: str                    # error | warning
    success: bool
    unexpected_count: int
    sample: list[dict]               # a few failing records, each with evidence and document
    fingerprint: str                 # suite + expectation + sorted failing keys (alert dedup)
    description: str = ""
    keys: tuple[str, ...] = field(default=(), repr=False, compare=False)
    gx_results: tuple[dict, ...] = field(default=(), repr=False, compare=False)

    @property
    def failed(self) -> bool:
        return not self.success

    def to_dict(self) -> dict:
        """JSON-ready view (no GX internals, no key list)."""
        return {"suite": self.suite, "expectation": self.expectation, "severity": self.severity,
                "success": self.success, "unexpected_count": self.unexpected_count,
                "sample": self.sample, "fingerprint": self.fingerprint, "description": self.description}


def merge_results(results: Iterable[ExpectationResult]) -> list[ExpectationResult]:
    """Combine results of the same suite and expectation (e.g. one per batch) into one.

    Order of first appearance is kept; counts add up, samples are concatenated up to
    ``SAMPLE_SIZE``, the fingerprint is recomputed over the union of failing keys.
    """
    merged: dict[tuple[str, str], ExpectationResult] = {}
    for result in results:
        key = (result.suite, result.expectation)
        seen = merged.get(key)
        if seen is None:
            merged[key] = result
            continue
        keys = tuple(sorted(set(seen.keys) | set(result.keys)))
        merged[key] = replace(
            seen,
            success=seen.success and result.success,
            unexpected_count=seen.unexpected_count + result.unexpected_count,
            sample=(seen.sample + result.sample)[:SAMPLE_SIZE],
            keys=keys,
            fingerprint=fingerprint(seen.suite, seen.expectation, keys),
            gx_results=seen.gx_results + result.gx_results,
        )
    return list(merged.values())


def failures(results: Iterable[ExpectationResult]) -> list[ExpectationResult]:
    return [r for r in results if not r.success]


def counts_by_severity(results: Sequence[ExpectationResult]) -> dict[str, int]:
    """Failed expectations per severity (always both keys)."""
    counts = {s: 0 for s in SEVERITIES}
    for r in results:
        if not r.success:
            counts[r.severity] = counts.get(r.severity, 0) + 1
    return counts
