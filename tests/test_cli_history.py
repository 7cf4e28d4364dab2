"""The CLI of issue 17 on a copy of samples/ and a real Prefect server: `zonefacts run` sees a
changed sidecar and a changed corrections file (the up-to-date check folds in the extractor
fingerprint and the corrections file's bytes), `run --reextract`, `reextract --documents GLOB`,
`forget`, and `corrections check` with its exit codes."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import ROOT, query
from flows import cli
from flows.pipeline import run_pipeline
from flows.settings import Settings
from transforms.corrections import HEADER

SAMPLE = "2024_h1_chengdu_gaoxin"
GDP_GROWTH = "entity = '成都高新区' AND indicator = 'gdp' AND measure = 'yoy_pct'"


def _copy_samples(root: Path) -> tuple[Path, Path]:
    inbox = root / "samples"
    shutil.copytree(ROOT / "samples", inbox)
    return inbox, root / "wh" / "zonefacts.duckdb"


def _zonefacts(capsys, *argv: str, code: int = cli.EXIT_OK) -> str:
    got = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert got == code, out + err
    return out + err


def _corrections_file(warehouse: Path, *lines: str) -> Path:
    path = warehouse.with_name(f"{warehouse.stem}.corrections.csv")
    path.write_text(HEADER + "\n" + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def published(tmp_path) -> tuple[Path, Path]:
    """samples/ loaded (without Prefect: the CLI tests below start from a published warehouse)."""
    inbox, warehouse = _copy_samples(tmp_path)
    assert run_pipeline(Settings(warehouse=warehouse, inbox=inbox))["documents_new"] == 6
    return inbox, warehouse


def test_run_sees_a_new_corrections_file_and_a_sidecar_and_is_up_to_date_otherwise(prefect_api_url, capsys,
                                                                                    published):
    inbox, warehouse = published
    run = ("run", "--inbox", str(inbox), "--warehouse", str(warehouse))
    assert "seen 6, new 0, skipped 6" in _zonefacts(capsys, *run, "--rescan")
    assert "up to date" in _zonefacts(capsys, *run)

    _corrections_file(warehouse, f"reject,{SAMPLE},成都高新区,2024,1,6,gdp,,yoy_pct,,,,,,lin,restated")
    corrected = _zonefacts(capsys, *run)
    assert "up to date" not in corrected
    assert "  facts         correction: 0 added, 0 changed, 1 retracted" in corrected
    assert "  corrections   1 applied" in corrected
    assert query(warehouse, f"SELECT count(*) FROM observations WHERE {GDP_GROWTH}") == [(0,)]
    assert "up to date" in _zonefacts(capsys, *run)

    # a sidecar beside a file loaded without one: a new version, seen without --rescan
    stem = "2022_q1_xian_gaoxin"
    sidecar = inbox / f"{stem}.meta.json"
    sidecar.write_text('{"title": "NEW", "published_at": "2023-05-01"}', encoding="utf-8")
    assert "seen 6, new 1, skipped 5" in _zonefacts(capsys, *run)
    assert query(warehouse, "SELECT title, published_at::VARCHAR FROM documents WHERE stem = ?", [stem]) == [
        ("NEW", "2023-05-01")]
    # a run that superseded a version reads the inbox once more (a copy of the old bytes elsewhere
    # would load now), and then the inbox is up to date
    assert "seen 6, new 0, skipped 6" in _zonefacts(capsys, *run)
    assert "up to date" in _zonefacts(capsys, *run)
    # and with --rescan
    sidecar.write_text('{"title": "NEWER", "published_at": "2023-05-02"}', encoding="utf-8")
    assert "seen 6, new 1, skipped 5" in _zonefacts(capsys, *run, "--rescan")
    assert query(warehouse, "SELECT title FROM documents WHERE stem = ?", [stem]) == [("NEWER",)]

    # every stored document read again: the same facts, the rejection kept
    again = _zonefacts(capsys, *run, "--reextract")
    assert "  re-extracted  6 stored documents" in again and "  facts" not in again
    assert query(warehouse, "SELECT count(*) FROM observation_changes") == [(0,)]
    assert query(warehouse, f"SELECT count(*) FROM observations WHERE {GDP_GROWTH}") == [(0,)]


def test_reextract_reads_only_the_named_stored_documents(prefect_api_url, capsys, published):
    inbox, warehouse = published
    (inbox / "new.txt").write_text("2025年一季度，西安高新区地区生产总值同比增长5.2%。\n", encoding="utf-8")
    out = _zonefacts(capsys, "reextract", "--documents", "2024_h1_*", "--warehouse", str(warehouse))
    assert "seen 0, new 0" in out and "  re-extracted  2 stored documents" in out
    assert query(warehouse, "SELECT count(*) FROM documents") == [(6,)]          # new.txt: not read
    assert query(warehouse, "SELECT count(*) FROM pipeline_runs WHERE status = 'success'") == [(2,)]

    missing = _zonefacts(capsys, "reextract", "--warehouse", str(warehouse.with_name("none.duckdb")),
                         code=cli.EXIT_WAREHOUSE)
    assert "does not exist yet" in missing


def test_forget_retracts_a_document_for_good_and_an_unknown_name_changes_nothing(capsys, published):
    inbox, warehouse = published
    facts = query(warehouse, "SELECT count(*) FROM observations WHERE document = ?", [SAMPLE])[0][0]
    assert facts > 0

    unknown = _zonefacts(capsys, "forget", "no_such_document", "--warehouse", str(warehouse), code=cli.EXIT_USAGE)
    assert "no current document is named 'no_such_document'" in unknown
    assert query(warehouse, "SELECT count(*) FROM observations WHERE document = ?", [SAMPLE]) == [(facts,)]

    out = _zonefacts(capsys, "forget", SAMPLE, "also_unknown", "--warehouse", str(warehouse))
    assert f"forgot 1 documents, {facts} facts retracted" in out
    assert "no current document is named 'also_unknown'" in out
    assert query(warehouse, "SELECT count(*) FROM observations WHERE document = ?", [SAMPLE]) == [(0,)]
    assert query(warehouse, "SELECT count(*), min(end_cause), max(end_cause) FROM fact_history WHERE document = ?",
                 [SAMPLE]) == [(facts, "forgotten", "forgotten")]
    assert query(warehouse, "SELECT change, cause, count(*) FROM observation_changes GROUP BY ALL") == [
        ("retracted", "forgotten", facts)]

    # the file is still in the inbox: the next run skips it
    summary = run_pipeline(Settings(warehouse=warehouse, inbox=inbox))
    assert (summary["documents_new"], summary["documents_skipped"]) == (0, 6)
    assert query(warehouse, "SELECT count(*) FROM observations WHERE document = ?", [SAMPLE]) == [(0,)]


def test_corrections_check_names_each_bad_line_and_exits_2(tmp_path, capsys):
    warehouse = tmp_path / "zonefacts.duckdb"
    path = _corrections_file(warehouse, f"reject,{SAMPLE},,,,,gpd,,level,,,,,,lin,",
                             f"set,{SAMPLE},,,,,gdp,,level,,1462.8亿元,,,,lin,",
                             "alias,,无名园区,,,,,,,,,,,某园,lin,")
    out = _zonefacts(capsys, "corrections", "check", "--warehouse", str(warehouse), code=cli.EXIT_USAGE)
    assert f"{path}: 3 lines, 2 with errors" in out
    assert "  line 2: unknown indicator code 'gpd' (closest: gdp" in out
    assert "  line 4: unknown entity '无名园区'" in out
    assert "line 3" not in out

    good = tmp_path / "good.csv"
    good.write_text(HEADER + f"\nset,{SAMPLE},,,,,gdp,,level,,1462.8亿元,,,,lin,\n", encoding="utf-8")
    assert f"{good}: 1 lines, 0 with errors" in _zonefacts(capsys, "corrections", "check", "--file", str(good))
    assert "no corrections file at" in _zonefacts(capsys, "corrections", "check", "--file",
                                                   str(tmp_path / "none.csv"))
