"""`make eval`: extraction quality on every gold corpus in ../shared, and the floors it must keep.

Owns the gold evaluation. Each corpus is copied into a temporary inbox and run through the real
pipeline in this process without Prefect (``run_pipeline(settings, run_plain)``); its warehouse is
scored with the functions of ``../shared/tools/score_gold.py`` (imported, never copied), so the
totals are the ones it prints. Every miss is classified by the first field that went wrong. The
table is kept in ``.eval/last.md`` (the one before in ``previous.md``) and the change printed.
``FLOORS`` holds the floors: ``--floors`` exits 1 below one; tests/test_gold_floors.py asserts them.

usage: python -m bench.eval_gold [--shared DIR] [--floors] [--work DIR]
"""
from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from difflib import SequenceMatcher
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
EVAL_DIR = ROOT / ".eval"
SCORER = Path("tools/score_gold.py")
CORPORA = {"seeds": (Path("corpus/seeds"), Path("spec/gold")),
           "dev": (Path("corpus/dev"), Path("spec/gold-dev"))}

# Tier-1 floors: issue 15's acceptance figures (a regression guard; the reader measures above them).
FLOORS = {"seeds": {"precision": 0.97, "recall": 0.93},
          "dev": {"precision": 0.95, "recall": 0.90}}
# Issue 15: "no dev document whose gold has two or more tier-1 facts yields none", read strictly:
# none *found* (predictions that are all wrong yield nothing). Reported always, and a floor.
EMPTY_RULE = {"corpora": ("dev",), "min_gold": 2, "is_floor": True}

# The order in which a miss is blamed on a field, and the row keys each field covers
# (entity_type: an enterprise subject is not tier-1 however right its name).
FIELDS = (("entity", ("entity", "entity_type")), ("year", ("year",)),
          ("months", ("start_month", "end_month")), ("indicator", ("indicator",)),
          ("measure", ("measure",)), ("value", ("value",)))
SAME_SENTENCE_CHARS = 8   # evidences sharing this many characters in a row speak of one sentence


@dataclass
class DocRow:
    document: str
    predicted: int
    right: int
    gold: int
    found: int


@dataclass
class Miss:
    kind: str            # FN: a tier-1 gold row not found; FP: a predicted row that is not right
    document: str
    cls: str
    gold: dict | None
    pred: dict | None


@dataclass
class CorpusResult:
    name: str
    warehouse: Path
    docs: list[DocRow] = field(default_factory=list)
    misses: list[Miss] = field(default_factory=list)

    def totals(self) -> tuple[int, int, int, int]:
        return tuple(sum(getattr(d, k) for d in self.docs) for k in ("predicted", "right", "gold", "found"))

    def prf(self) -> tuple[float, float, float]:
        return prf(*self.totals())


def prf(n_pred: int, right: int, n_gold: int, found: int) -> tuple[float, float, float]:
    """Precision, recall and f1 as score_gold.py computes them."""
    p = right / n_pred if n_pred else 0.0
    r = found / n_gold if n_gold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


# --------------------------------------------------------------------------- running and scoring


def missing_inputs(shared: Path, corpus: str) -> list[str]:
    """What ../shared lacks for ``corpus`` (empty when it can be evaluated)."""
    docs, gold = CORPORA[corpus]
    return [str(shared / p) for p in (docs, gold, SCORER) if not (shared / p).exists()]


def load_scorer(shared: Path):
    spec = importlib.util.spec_from_file_location("score_gold", shared / SCORER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copy_inbox(corpus_dir: Path, stems: set[str], inbox: Path) -> None:
    """The documents that have gold, with their sidecars (SOURCES.md and other notes are not documents)."""
    inbox.mkdir(parents=True)
    for path in sorted(corpus_dir.iterdir()):
        if path.is_file() and Path(path.name.removesuffix(".meta.json")).stem in stems:
            shutil.copyfile(path, inbox / path.name)


def run_pipeline_plain(inbox: Path, warehouse: Path) -> dict:
    # The validation process imports GX while this one imports Prefect, as the CLI does.
    from flows.validation_process import start_validation_process
    start_validation_process()
    from flows.pipeline import run_pipeline, run_plain
    from flows.settings import Settings

    # Settings' defaults, not load_settings(): an evaluation must not send the environment's alerts.
    return run_pipeline(Settings(warehouse=warehouse, inbox=inbox), run_plain)


def evaluate(shared: Path, corpus: str, work: Path) -> CorpusResult:
    """Run the pipeline on one gold corpus in ``work`` and score it document by document."""
    scorer = load_scorer(shared)
    docs_dir, gold_dir = (shared / p for p in CORPORA[corpus])
    gold = scorer.load_gold(gold_dir)
    inbox, warehouse = work / corpus / "inbox", work / corpus / "warehouse.duckdb"
    copy_inbox(docs_dir, set(gold), inbox)
    summary = run_pipeline_plain(inbox, warehouse)
    if summary["status"] != "success":
        raise SystemExit(f"eval: the pipeline run on {corpus} ended {summary['status']}")
    pred = scorer.load_pred(warehouse)
    result = CorpusResult(corpus, warehouse)
    for stem, gold_rows in gold.items():
        row, misses = score_document(scorer, stem, gold_rows, pred.get(stem, []))
        result.docs.append(row)
        result.misses += misses
    return result


def score_document(scorer, stem: str, gold_rows: list[dict], pred_rows: list[dict]) -> tuple[DocRow, list[Miss]]:
    """score_gold.score's counting for one document (same order, same one-gold-row-per-prediction
    rule), keeping the rows it counts as wrong or missing."""
    eligible = [p for p in pred_rows if scorer.tier1_eligible(p)]
    used: set[int] = set()
    false_pos = []
    for p in eligible:
        hit = next((i for i, g in enumerate(gold_rows) if i not in used and scorer.matches(p, g)), None)
        if hit is None:
            false_pos.append(p)
        else:
            used.add(hit)
    tier1 = [g for g in gold_rows if g.get("tier") == 1]
    false_neg = [g for g in tier1 if not any(scorer.matches(p, g) for p in eligible)]
    misses = [Miss("FN", stem, *classify(scorer, g, pred_rows, gold_side=True)) for g in false_neg]
    misses += [Miss("FP", stem, *classify(scorer, p, gold_rows, gold_side=False)) for p in false_pos]
    row = DocRow(stem, len(eligible), len(eligible) - len(false_pos), len(tier1), len(tier1) - len(false_neg))
    return row, misses


# --------------------------------------------------------------------------- classifying misses


def _evidence_overlap(a: str, b: str) -> int:
    return SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b)).size


def _evidences(pred: dict, gold: dict) -> tuple[str, str]:
    return str(pred.get("evidence") or ""), str(gold.get("evidence") or "")


def about_same_sentence(scorer, pred: dict, gold: dict) -> bool:
    if scorer.close(pred.get("value"), gold.get("value")):
        return True
    a, b = _evidences(pred, gold)
    return bool(a and b) and (a in b or b in a or _evidence_overlap(a, b) >= SAME_SENTENCE_CHARS)


def wrong_fields(scorer, pred: dict, gold: dict) -> list[str]:
    """The fields on which ``pred`` fails ``gold``, each judged by the scorer itself: the gold row
    with only that field taken from the prediction must still match (and stay tier-1 if it was)."""
    wrong = []
    for name, keys in FIELDS:
        hybrid = {**gold, **{k: pred.get(k) for k in keys}}
        tier_kept = scorer.tier1_eligible(hybrid) or not scorer.tier1_eligible(gold)
        if not (scorer.matches(hybrid, gold) and tier_kept):
            wrong.append(name)
    return wrong


def classify(scorer, row: dict, others: list[dict], gold_side: bool) -> tuple[str, dict | None, dict | None]:
    """(class, gold, pred) of a miss: the first wrong field of the nearest row of the other side
    that is about the same sentence; `no fact` / `not in gold` when there is none, `duplicate`
    when a prediction matches a gold row another prediction already took."""
    best = None
    for other in others:
        pred, gold = (other, row) if gold_side else (row, other)
        if not about_same_sentence(scorer, pred, gold):
            continue
        wrong = wrong_fields(scorer, pred, gold)
        key = (len(wrong), -_evidence_overlap(*_evidences(pred, gold)))
        if best is None or key < best[0]:
            best = (key, wrong, pred, gold)
    if best is None:
        return ("no fact", row, None) if gold_side else ("not in gold", None, row)
    _, wrong, pred, gold = best
    return (wrong[0] if wrong else "duplicate"), gold, pred


# --------------------------------------------------------------------------- floors


def empty_documents(result: CorpusResult) -> list[DocRow]:
    """Documents breaking issue 15's rule: enough tier-1 gold, none of it found."""
    if result.name not in EMPTY_RULE["corpora"]:
        return []
    return [d for d in result.docs if d.gold >= EMPTY_RULE["min_gold"] and d.found == 0]


def floor_checks(result: CorpusResult) -> list[tuple[str, bool]]:
    """(what, met) for every floor of the corpus."""
    measured = dict(zip(("precision", "recall"), result.prf()))
    checks = [(f"{result.name} {k} {measured[k]:.3f} (floor {floor:.2f})", measured[k] >= floor)
              for k, floor in FLOORS.get(result.name, {}).items()]
    if EMPTY_RULE["is_floor"] and result.name in EMPTY_RULE["corpora"]:
        checks.append((f"{result.name} documents yielding none {len(empty_documents(result))} (floor 0)",
                       not empty_documents(result)))
    return checks


# --------------------------------------------------------------------------- reporting

CLASSES = ("no fact", *(name for name, _ in FIELDS), "not in gold", "duplicate")
TABLE_ROW = re.compile(r"^\| (\S+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$")


def corpus_markdown(result: CorpusResult) -> list[str]:
    """The per-document table, the totals line and the miss counts of one corpus."""
    p, r, f = result.prf()
    n_pred, right, n_gold, found = result.totals()
    lines = [f"## {result.name}", "", "| document | predicted | right | gold tier-1 | found |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {d.document} | {d.predicted} | {d.right} | {d.gold} | {d.found} |" for d in result.docs]
    lines += [f"| **total** | {n_pred} | {right} | {n_gold} | {found} |", "",
              f"tier1 precision {p:.3f} recall {r:.3f} f1 {f:.3f} ({n_pred}/{n_gold})", ""]
    counts = {cls: [sum(m.kind == kind and m.cls == cls for m in result.misses) for kind in ("FN", "FP")]
              for cls in CLASSES}
    lines += ["| miss class | FN | FP |", "|---|---:|---:|"] if result.misses else ["no misses"]
    lines += [f"| {cls} | {fn} | {fp} |" for cls, (fn, fp) in counts.items() if fn or fp]
    offenders = empty_documents(result)
    if offenders:
        lines += ["", f"rule: {len(offenders)} documents with ≥ {EMPTY_RULE['min_gold']} tier-1 gold facts find "
                  f"none of them{'' if EMPTY_RULE['is_floor'] else ' (reported, not a floor yet)'}: "
                  + ", ".join(f"{d.document} ({d.predicted} predicted, {d.gold} gold)" for d in offenders)]
    return lines + [""]


def _short(row: dict | None) -> str:
    if row is None:
        return "-"
    value = row.get("value")
    value = f"{value:.10g}" if isinstance(value, (int, float)) else value
    return (f"{row.get('entity')} {row.get('year')} {row.get('start_month')}-{row.get('end_month')} "
            f"{row.get('indicator')} {row.get('measure')} {value}")


def miss_lines(result: CorpusResult) -> list[str]:
    """One line per miss, false negatives first, each with the evidence of the row that missed."""
    lines = []
    for m in sorted(result.misses, key=lambda m: (m.kind != "FN", m.document, CLASSES.index(m.cls))):
        evidence = str((m.gold if m.kind == "FN" else m.pred).get("evidence") or "").replace("\n", " ")
        lines.append(f"{m.kind} {m.document} {m.cls:<11} gold {_short(m.gold)} | pred {_short(m.pred)} "
                     f"| {evidence[:50]}")
    return lines


def parse_table(markdown: str) -> dict[tuple[str, str], tuple[int, ...]]:
    """(corpus, document) → (predicted, right, gold, found) from a .eval Markdown file."""
    table, corpus = {}, None
    for line in markdown.splitlines():
        if line.startswith("## "):
            corpus = line[3:].strip()
        elif (m := TABLE_ROW.match(line)) and corpus:
            table[corpus, m[1]] = tuple(int(x) for x in m.groups()[1:])
    return table


def change_lines(before: dict, now: dict) -> list[str]:
    """Per document the change in right and found; for the totals also precision and recall."""
    if not before:
        return ["no previous run in .eval/ to compare with"]
    lines = []
    for (corpus, doc), counts in now.items():
        old = before.get((corpus, doc))
        if old is None:
            lines.append(f"{corpus} {doc}: new")
        elif doc == "**total**":
            (p0, r0, _), (p1, r1, _) = prf(*old), prf(*counts)
            lines.append(f"{corpus} total: right {old[1]} → {counts[1]}, found {old[3]} → {counts[3]}, precision "
                         f"{p0:.3f} → {p1:.3f} ({p1 - p0:+.3f}), recall {r0:.3f} → {r1:.3f} ({r1 - r0:+.3f})")
        elif (old[1], old[3]) != (counts[1], counts[3]):
            lines.append(f"{corpus} {doc}: right {old[1]} → {counts[1]} ({counts[1] - old[1]:+d}), "
                         f"found {old[3]} → {counts[3]} ({counts[3] - old[3]:+d})")
    return lines


def keep_table(markdown: str) -> str:
    """Write .eval/last.md (moving the one there to previous.md); the previous one's text."""
    EVAL_DIR.mkdir(exist_ok=True)
    last, previous = EVAL_DIR / "last.md", EVAL_DIR / "previous.md"
    if last.exists():
        last.replace(previous)
    last.write_text(markdown, encoding="utf-8")
    return previous.read_text(encoding="utf-8") if previous.exists() else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.eval_gold", description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED, help="the shared folder (default ../shared)")
    parser.add_argument("--floors", action="store_true", help="exit 1 when a floor is missed")
    parser.add_argument("--work", type=Path, help="keep the inboxes and warehouses in a new folder under DIR")
    args = parser.parse_args(argv)
    corpora = [c for c in CORPORA if not missing_inputs(args.shared, c)]
    for corpus in [c for c in CORPORA if c not in corpora]:
        print(f"eval: {corpus} skipped, no " + ", ".join(missing_inputs(args.shared, corpus)), file=sys.stderr)
    if not corpora:
        raise SystemExit(f"eval: no gold corpus under {args.shared}")
    with tempfile.TemporaryDirectory(prefix="zonefacts-eval-") as tmp:
        work = Path(tempfile.mkdtemp(prefix="eval-", dir=args.work)) if args.work else Path(tmp)
        results = [evaluate(args.shared, c, work) for c in corpora]
    if args.work:
        print(f"inboxes and warehouses kept in {work}\n")
    from transforms.extract import EXTRACTOR_VERSION

    markdown = [f"# make eval {datetime.now():%Y-%m-%d %H:%M}, extractor {EXTRACTOR_VERSION}", ""]
    for result in results:
        markdown += corpus_markdown(result)
        print("\n".join(corpus_markdown(result) + miss_lines(result)) + "\n")
    markdown = "\n".join(markdown)
    before = parse_table(keep_table(markdown))
    print("changes since the previous run (.eval/previous.md → .eval/last.md):")
    print("\n".join("  " + line for line in change_lines(before, parse_table(markdown))))
    checks = [check for result in results for check in floor_checks(result)]
    print("floors: " + ", ".join(f"{what} {'met' if met else 'MISSED'}" for what, met in checks))
    return 1 if args.floors and not all(met for _, met in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
