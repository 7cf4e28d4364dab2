"""Extractor throughput on the real seed articles, repeated: parse + extract, no warehouse.

The seed corpus (../shared/corpus/seeds, not in this repository) repeated ``--repeat``
times (default 200) is parsed with transforms.documents and extracted with
transforms.extract in batches of ``--batch`` documents, as the flow does. Prints
documents/s and MB/s of each step and of both together, measured in this one run.

usage: python -m bench.seed_throughput [--seeds DIR] [--repeat 200] [--batch 1000]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import polars as pl

from transforms.documents import parse_documents
from transforms.extract import extract
from transforms.vocabulary import load_vocabulary

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SEEDS = ROOT.parent / "shared" / "corpus" / "seeds"


def _raw_files(seeds: Path, repeat: int) -> pl.DataFrame:
    rows = []
    for path in sorted(p for p in seeds.iterdir() if p.is_file() and not p.name.endswith(".meta.json")):
        content = path.read_bytes()
        sidecar_path = path.with_name(path.stem + ".meta.json")
        sidecar = sidecar_path.read_bytes() if sidecar_path.exists() else None
        for copy in range(repeat):
            # each copy is its own document: distinct identity, same text
            rows.append({"path": f"{copy:04d}/{path.name}", "content": content, "size_bytes": len(content),
                         "sha256": hashlib.sha256(content + copy.to_bytes(4, "big")).hexdigest(),
                         "sidecar": sidecar})
    return pl.DataFrame(rows, schema={"path": pl.String, "content": pl.Binary, "size_bytes": pl.Int64,
                                      "sha256": pl.String, "sidecar": pl.Binary})


def run(seeds: Path, repeat: int, batch: int) -> dict:
    raw = _raw_files(seeds, repeat)
    megabytes = raw.get_column("size_bytes").sum() / 1e6
    vocabulary = load_vocabulary()
    extract(parse_documents(raw.head(1))[0], vocabulary)  # warm the regex and vocabulary caches

    parse_seconds = extract_seconds = 0.0
    observations = 0
    for start in range(0, raw.height, batch):
        t = time.perf_counter()
        documents, _ = parse_documents(raw.slice(start, batch))
        parse_seconds += time.perf_counter() - t
        t = time.perf_counter()
        observations += extract(documents, vocabulary).observations.height
        extract_seconds += time.perf_counter() - t
    total = parse_seconds + extract_seconds
    return {
        "documents": raw.height, "megabytes": round(megabytes, 2), "observations": observations,
        "parse": {"seconds": round(parse_seconds, 2), "documents_per_s": round(raw.height / parse_seconds),
                  "mb_per_s": round(megabytes / parse_seconds, 2)},
        "extract": {"seconds": round(extract_seconds, 2), "documents_per_s": round(raw.height / extract_seconds),
                    "mb_per_s": round(megabytes / extract_seconds, 2)},
        "parse_and_extract": {"seconds": round(total, 2), "documents_per_s": round(raw.height / total),
                              "mb_per_s": round(megabytes / total, 2)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=Path, default=DEFAULT_SEEDS)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args(argv)
    if not args.seeds.is_dir():
        print(f"no seed corpus at {args.seeds} (it lives in ../shared/corpus/seeds, outside the repository)",
              file=sys.stderr)
        return 2
    print(json.dumps(run(args.seeds, args.repeat, args.batch), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
