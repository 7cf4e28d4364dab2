"""Tier-1 precision/recall of a warehouse (or of extracted rows) against bench truth.

The matching is shared/tools/score_gold.py's (``matches`` and ``tier1_eligible``),
imported from ../shared when present (otherwise the copy below), and stricter in one way:
the unit (a figure in 美元 is USD, not CNY) and the segment (a breakdown is its parent
indicator with a segment, never the parent itself) must agree too. Truth rows name the
forms they were written in (bench/generate.py), and the scores are also given per form.

usage: python -m bench.score WAREHOUSE.duckdb TRUTH_DIR [--verbose]
       python -m bench.score --extract CORPUS_DIR [--verbose]   (extraction in this process)
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


DOCUMENT_SUFFIXES = (".txt", ".html")   # what bench/generate.py writes


def stem_of(document: str) -> str:
    name = Path(str(document)).name
    return next((name[: -len(s)] for s in DOCUMENT_SUFFIXES if name.endswith(s)), name)


def _bare(value):
    return None if value is None else str(value).replace("（", "(").replace("）", ")").replace(" ", "").strip() or None


def same_reading(pred: dict, gold: dict) -> bool:
    """score_gold's match, and the same unit and segment."""
    if not matches(pred, gold) or _bare(pred.get("segment")) != _bare(gold.get("segment")):
        return False
    return gold.get("unit") is None or pred.get("unit") == gold.get("unit")


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


def _form_of(pred: dict, grows: list[dict]) -> list[str]:
    """The forms of the truth statement a wrong row was most likely read from: the one whose
    evidence shares the longest run of characters with the row's."""
    from difflib import SequenceMatcher

    evidence = str(pred.get("evidence") or "")
    best, best_len = None, 3
    for g in grows:
        other = str(g.get("evidence") or "")
        size = SequenceMatcher(None, evidence, other, autojunk=False).find_longest_match(
            0, len(evidence), 0, len(other)).size
        if size > best_len:
            best, best_len = g, size
    return (best.get("forms") or ["base"]) if best is not None else ["unattributed"]


def score_rows(pred: dict[str, list[dict]], truth: dict[str, list[dict]], verbose: int = 0) -> dict:
    tp_p = n_pred = tp_r = n_gold = 0
    misses: list[str] = []
    forms: dict[str, dict[str, int]] = {}

    def count(tags, key):
        for tag in _with_groups(tags):
            forms.setdefault(tag, {"pred": 0, "right": 0, "gold": 0, "found": 0, "gold_alone": 0, "found_alone": 0,
                                   "gold_t2": 0, "found_t2": 0})
            forms[tag][key] += 1

    for stem, grows in truth.items():
        prows = [p for p in pred.get(stem, []) if tier1_eligible(p)]
        used: set[int] = set()
        for p in prows:
            for i, g in enumerate(grows):
                if i not in used and same_reading(p, g):
                    used.add(i)
                    tp_p += 1
                    count(g.get("forms") or ["base"], "pred")
                    count(g.get("forms") or ["base"], "right")
                    break
            else:
                count(_form_of(p, grows), "pred")
                misses.append(f"FP {stem}: {p['entity']} {p['year']} {p['start_month']}-{p['end_month']} "
                              f"{p['indicator']} [{p.get('segment')}] {p['measure']} {p['value']} {p.get('unit')} "
                              f"| {p['evidence']}")
        for g in grows:
            tags = g.get("forms") or ["base"]
            found = any(same_reading(p, g) for p in prows)
            if g.get("tier") != 1:
                count(tags, "gold_t2")
                if found:
                    count(tags, "found_t2")
                continue
            count(tags, "gold")
            alone = _alone(tags)
            count(alone, "gold_alone")
            if found:
                tp_r += 1
                count(tags, "found")
                count(alone, "found_alone")
            else:
                misses.append(f"FN {stem}: {g['entity']} {g['year']} {g['start_month']}-{g['end_month']} "
                              f"{g['indicator']} [{g.get('segment')}] {g['measure']} {g['value']} {g.get('unit')} "
                              f"| {g['evidence']}")
        n_pred += len(prows)
        n_gold += sum(g.get("tier") == 1 for g in grows)
    p = tp_p / n_pred if n_pred else 0.0
    r = tp_r / n_gold if n_gold else 0.0
    if verbose:
        for line in misses[:verbose]:
            print("  " + line)
    return {"precision": p, "recall": r, "n_pred": n_pred, "n_gold": n_gold, "misses": len(misses),
            "matching": SOURCE + " + unit and segment", "per_form": dict(sorted(forms.items()))}


def _with_groups(tags: list[str]) -> list[str]:
    """The forms ("list/places") and their groups ("list"), each once."""
    return sorted(set(tags) | {t.split("/")[0] for t in tags if "/" in t})


def _alone(tags: list[str]) -> list[str]:
    """The forms a statement has as its only new one: the form itself when it has one, the group
    when all its forms are of one group (noise/tag and noise/space)."""
    groups = {t.split("/")[0] for t in tags}
    return (tags if len(tags) == 1 else []) + (sorted(groups) if len(groups) == 1 and "/" in tags[0] else [])


def form_table(per_form: dict[str, dict[str, int]]) -> str:
    """A Markdown table of per-form precision and recall (a row in two groups counts in both)."""
    lines = ["| form | predicted | right | precision | tier-1 truth | found | recall | recall, only new form "
             "| tier-2 found |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def ratio(a: int, b: int) -> str:
        return f"{a / b:.3f}" if b else "–"

    for tag, c in per_form.items():
        alone = f"{ratio(c['found_alone'], c['gold_alone'])} ({c['gold_alone']})" if c["gold_alone"] else ""
        t2 = f"{c['found_t2']}/{c['gold_t2']}" if c["gold_t2"] else ""
        lines.append(f"| {tag} | {c['pred']} | {c['right']} | {ratio(c['right'], c['pred'])} | {c['gold']} "
                     f"| {c['found']} | {ratio(c['found'], c['gold'])} | {alone} | {t2} |")
    return "\n".join(lines)


def extracted_rows(inbox: Path, batch: int = 1000) -> dict[str, list[dict]]:
    """Read, parse and extract ``inbox`` in this process (no warehouse), by stem."""
    from flows.inbox import discover_paths
    from flows.inbox_read import read_raw_files
    from transforms.documents import parse_documents
    from transforms.extract import extract
    from transforms.vocabulary import load_vocabulary

    vocabulary, out = load_vocabulary(), {}
    paths = discover_paths(inbox)
    for start in range(0, len(paths), batch):
        documents, _ = parse_documents(read_raw_files(inbox, paths[start:start + batch], 1 << 26))
        path_of = dict(zip(documents["document_id"], documents["path"]))
        for rec in extract(documents, vocabulary).observations.to_dicts():
            rec["document"] = path_of[rec["document_id"]]
            out.setdefault(stem_of(rec["document"]), []).append(rec)
    return out


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--extract" in sys.argv:
        corpus = Path(args[0])
        pred, truth = extracted_rows(corpus / "inbox"), load_truth(corpus / "truth")
    else:
        pred, truth = warehouse_rows(Path(args[0])), load_truth(Path(args[1]))
    result = score_rows(pred, truth, verbose=50 if "--verbose" in sys.argv else 0)
    print(form_table(result["per_form"]))
    print(f"tier1 precision {result['precision']:.4f} recall {result['recall']:.4f} "
          f"({result['n_pred']}/{result['n_gold']})")


if __name__ == "__main__":
    main()
