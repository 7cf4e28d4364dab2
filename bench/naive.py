"""The afternoon baseline: a per-document Python regex loop and row-by-row INSERTs.

What a user would write without zonefacts: split each file into sentences, look for
"X增长Y%" and "X…亿元" with two regexes, insert every hit into DuckDB one row at a time.
No entities, periods, vocabulary, dedup or validation: it is a speed reference only.

usage: python -m bench.naive INBOX WAREHOUSE.duckdb
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import duckdb

SENTENCE = re.compile(r"[^。！？!?\n]+")
GROWTH = re.compile(r"([\u4e00-\u9fffA-Za-z]{2,12}?)(?:同比)?(增长|下降)(\d+(?:\.\d+)?)%")
LEVEL = re.compile(r"([\u4e00-\u9fffA-Za-z]{2,12}?)(\d+(?:\.\d+)?)亿元")


def run(inbox: Path, warehouse: Path) -> dict:
    started = time.perf_counter()
    con = duckdb.connect(str(warehouse))
    con.execute("CREATE TABLE IF NOT EXISTS facts (document VARCHAR, phrase VARCHAR, measure VARCHAR, "
                "value DOUBLE, sentence VARCHAR)")
    docs = rows = nbytes = 0
    for name in sorted(os.listdir(inbox)):
        if not name.endswith(".txt"):
            continue
        data = (inbox / name).read_bytes()
        nbytes += len(data)
        docs += 1
        text = data.decode("utf-8")
        for sentence in SENTENCE.findall(text):
            for phrase, verb, number in GROWTH.findall(sentence):
                value = float(number) * (-1 if verb == "下降" else 1)
                con.execute("INSERT INTO facts VALUES (?, ?, ?, ?, ?)", [name, phrase, "yoy_pct", value, sentence])
                rows += 1
            for phrase, number in LEVEL.findall(sentence):
                con.execute("INSERT INTO facts VALUES (?, ?, ?, ?, ?)",
                            [name, phrase, "level", float(number) * 1e8, sentence])
                rows += 1
    con.close()
    return {"documents": docs, "bytes": nbytes, "rows": rows, "seconds": time.perf_counter() - started}


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]), Path(sys.argv[2]))))
