"""The floor: read every file and make one Polars regex pass over all the text.

Nothing zonefacts does can be faster than reading the bytes and scanning them once;
``str.extract_all`` of a number regex is that single scan. Every file means what
zonefacts reads: the articles and their ``.meta.json`` sidecars.

usage: python -m bench.floor INBOX
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import polars as pl

NUMBER = r"\d+(?:\.\d+)?"


def run(inbox: Path) -> dict:
    started = time.perf_counter()
    names = sorted(n for n in os.listdir(inbox) if not n.startswith("."))
    texts = [(inbox / n).read_bytes() for n in names]
    nbytes = sum(len(t) for t in texts)
    frame = pl.DataFrame({"path": names, "raw": texts}, schema={"path": pl.String, "raw": pl.Binary})
    numbers = frame.select(pl.col("raw").cast(pl.String).str.extract_all(NUMBER).list.len().sum()).item()
    return {"files": len(names), "documents": sum(not n.endswith(".meta.json") for n in names),
            "bytes": nbytes, "numbers": int(numbers),
            "seconds": time.perf_counter() - started}


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]))))
