"""Tier-1 precision/recall of a warehouse (or of extracted rows) against bench truth.

The matching is shared/tools/score_gold.py's (``matches`` and ``tier1_eligible``),
imported from ../shared when present; otherwise the copy below is used.

usage: python -m bench.score WAREHOUSE.duckdb TRUTH_DIR [--verbose]
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_SHARED_TOOLS = ROOT.parent / "shared" / "tools"

try:
    sys.path.insert(0, str(_SHARED_TOOLS))
    from score_gold import matches, tier1_eligible  # type: ignore  # noqa: E402
    SOURCE = str(_SHARED_TOOLS / "score_gold.py")
except ImportError:  # a copy of score_gold's logic
    SOURCE = "bench/score.py (copy)"
    TIER1_MEASURES = {"level", "yoy_pct", "share_pct", "diff_pp"}
    NON_TIER1_INDICATORS = {"industry_output"}

    def _norm(name):
        return None if name is None else str(name).replace("（", "(").replace("）", ")").replace(" ", "").strip()

    def _close(a, b):
        return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)

    def matches(pred, gold):
        names = {_norm(gold["entity"])} | {_norm(x) for x in gold.get("entity_alt") or []}
        if _norm(pred["entity"]) not in names:
            return False
        if gold.get("year") is not None and pred.get("year") != gold["year"]:
            return False
        for key in ("start_month", "end_month", "indicator", "measure"):
            if pred.get(key) != gold.get(key):
                return False
        return _close(pred.get("value"), gold.get("value"))

    def tier1_eligible(pred):
        return (pred.get("measure") in TIER1_MEASURES and pred.get("indicator") not in NON_TIER1_INDICATORS
                and pred.get("entity_type") != "enterprise")
finally:
    if sys.path and sys.path[0] == str(_SHARED_TOOLS):
        sys.path.pop(0)

COLS = ["document", "entity", "entity_type", "year", "start_month", "end_month",
        "indicator", "segment", "measure", "value", "unit", "qualifier", "benchmark", "evidence"]


def stem_of(document: str) -> str:
    name = Path(str(document)).name
    return name[:-4] if name.endswith(".txt") else name


def load_truth(truth_dir: Path) -> dict[str, list[dict]]:
    out = {}
    for path in sorted(Path(truth_dir).glob("*.jsonl")):
        out[path.stem] = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    return out


def warehouse_rows(warehouse: Path) -> dict[str, list[dict]]:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(f"select {', '.join(COLS)} from observations").fetchall()
    finally:
        con.close()
    out: dict[str, list[dict]] = {}
    for row in rows:
        rec = dict(zip(COLS, row))
        for key in ("year", "start_month", "end_month"):
            if rec[key] is not None:
                rec[key] = int(rec[key])
        out.setdefault(stem_of(rec["document"]), []).append(rec)
    return out


def score_rows(pred: dict[str, list[dict]], truth: dict[str, list[dict]], verbose: int = 0) -> dict:
    tp_p = n_pred = tp_r = n_gold = 0
    misses: list[str] = []
    for stem, grows in truth.items():
        prows = [p for p in pred.get(stem, []) if tier1_eligible(p)]
        used: set[int] = set()
        for p in prows:
            for i, g in enumerate(grows):
                if i not in used and matches(p, g):
                    used.add(i)
                    tp_p += 1
                    break
            else:
                misses.append(f"FP {stem}: {p['entity']} {p['year']} {p['start_month']}-{p['end_month']} "
                              f"{p['indicator']} {p['measure']} {p['value']} | {p['evidence']}")
        g1 = [g for g in grows if g.get("tier") == 1]
        for g in g1:
            if any(matches(p, g) for p in prows):
                tp_r += 1
            else:
                misses.append(f"FN {stem}: {g['entity']} {g['year']} {g['start_month']}-{g['end_month']} "
                              f"{g['indicator']} {g['measure']} {g['value']} | {g['evidence']}")
        n_pred += len(prows)
        n_gold += len(g1)
    p = tp_p / n_pred if n_pred else 0.0
    r = tp_r / n_gold if n_gold else 0.0
    if verbose:
        for line in misses[:verbose]:
            print("  " + line)
    return {"precision": p, "recall": r, "n_pred": n_pred, "n_gold": n_gold, "misses": len(misses),
            "matching": SOURCE}


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    result = score_rows(warehouse_rows(Path(args[0])), load_truth(Path(args[1])),
                        verbose=50 if "--verbose" in sys.argv else 0)
    print(f"tier1 precision {result['precision']:.4f} recall {result['recall']:.4f} "
          f"({result['n_pred']}/{result['n_gold']})")


if __name__ == "__main__":
    main()
