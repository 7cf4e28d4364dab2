"""The extractor against the reference answers for the real seed articles in ../shared.

The articles stay outside the repository; without ../shared these tests skip.
"""
from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path

import polars as pl
import pytest

from transforms.extract import extract

SHARED = Path(__file__).resolve().parents[3] / "shared"
SEEDS = SHARED / "corpus" / "seeds"
GOLD = SHARED / "spec" / "gold"
SCORER = SHARED / "tools" / "score_gold.py"

pytestmark = pytest.mark.skipif(not (SEEDS.is_dir() and GOLD.is_dir() and SCORER.is_file()),
                                reason="../shared (seed corpus and gold) is not present")


def _scorer():
    spec = importlib.util.spec_from_file_location("score_gold", SCORER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def extraction():
    rows = []
    for path in sorted(SEEDS.glob("*.txt")):
        sidecar = path.with_suffix(".meta.json")
        published = json.loads(sidecar.read_text("utf-8")).get("published_at") if sidecar.exists() else None
        rows.append({"document_id": path.stem, "text": path.read_text("utf-8"), "title_source": "first_line",
                     "published_at": dt.date.fromisoformat(published) if published else None})
    return extract(pl.DataFrame(rows))


def test_tier1_precision_and_recall(extraction):
    scorer = _scorer()
    gold = scorer.load_gold(GOLD)
    predicted: dict[str, list[dict]] = {}
    for row in extraction.observations.to_dicts():
        predicted.setdefault(row["document_id"], []).append(row)
    right = n_pred = found = n_gold = 0
    for stem, gold_rows in gold.items():
        rows = [p for p in predicted.get(stem, []) if scorer.tier1_eligible(p)]
        used: set[int] = set()
        for p in rows:
            for i, g in enumerate(gold_rows):
                if i not in used and scorer.matches(p, g):
                    used.add(i)
                    right += 1
                    break
        tier1 = [g for g in gold_rows if g.get("tier") == 1]
        found += sum(any(scorer.matches(p, g) for p in rows) for g in tier1)
        n_pred += len(rows)
        n_gold += len(tier1)
    precision, recall = right / n_pred, found / n_gold
    assert precision >= 0.97, f"precision {precision:.3f} ({right}/{n_pred})"
    assert recall >= 0.93, f"recall {recall:.3f} ({found}/{n_gold})"


def test_no_observation_from_lost_digits(extraction):
    values = set(extraction.observations.filter(pl.col("document_id").str.starts_with("003"))
                 .get_column("value").to_list())
    assert not values & {90_000_000.0, 60_000_000.0, 0.9, 0.6}
    defects = extraction.defects.filter(pl.col("document_id").str.starts_with("003"))
    assert {".9亿元", "增长%"} <= {t.strip("实现达") for t in defects.get_column("text").to_list()} | {
        t[1:] for t in defects.get_column("text").to_list()}


def test_repeated_paragraphs_counted_once(extraction):
    rows = extraction.observations.filter(pl.col("document_id").str.starts_with("004")
                                          & (pl.col("indicator") == "high_tech_enterprises"))
    assert rows.height == 1
