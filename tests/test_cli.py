"""`zonefacts sql` and `zonefacts status` against a real published warehouse."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXPECTED_QUARANTINE, GOOD_FILES, MAX_FILE_BYTES, ZONEFACTS, table_counts, write_inbox
from flows import cli
from flows.console import display_width, format_table
from flows.pipeline import run_pipeline
from flows.settings import Settings


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    settings = Settings(warehouse=root / "zonefacts.duckdb", inbox=write_inbox(root / "inbox"),
                        max_file_bytes=MAX_FILE_BYTES)
    assert run_pipeline(settings)["status"] == "success"
    return settings.warehouse


def _sql(capsys, warehouse, query, *extra):
    code = cli.main(["sql", query, "--warehouse", str(warehouse), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_sql_prints_rows(published, capsys):
    code, out, err = _sql(capsys, published, "SELECT path, title FROM documents ORDER BY path")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["path", "title"]
    assert "上半年经济运行" in out
    assert lines[-1] == f"({len(GOOD_FILES)} rows)"
    assert {line.split()[0] for line in lines[2:-1]} == set(GOOD_FILES)


def test_sql_csv_and_json(published, capsys):
    code, out, _ = _sql(capsys, published, "SELECT reason, count(*) AS n FROM quarantine GROUP BY 1 ORDER BY 1",
                        "--format", "csv")
    assert code == 0
    assert out.splitlines()[0] == "reason,n"
    assert len(out.splitlines()) == 1 + len(EXPECTED_QUARANTINE)
    code, out, _ = _sql(capsys, published, "SELECT path FROM documents WHERE path LIKE 'gbk/%'", "--format", "json")
    assert code == 0
    assert json.loads(out) == [{"path": "gbk/2024-q1.txt"}]


@pytest.mark.parametrize("statement", [
    "DROP TABLE documents",
    "INSERT INTO documents (document_id) VALUES ('x')",
    "DELETE FROM quarantine",
    "ATTACH '/tmp/zonefacts-attack.duckdb' AS evil",
    "COPY (SELECT 1) TO '{tmp}/x.csv'",
    "INSTALL httpfs",
    "SET enable_external_access = true",
    "PRAGMA database_list",
    "CALL pragma_version()",
    "SELECT 1; DROP TABLE documents",
])
def test_sql_refuses_anything_but_reads(published, capsys, tmp_path, statement):
    before = table_counts(published)
    code, out, err = _sql(capsys, published, statement.format(tmp=tmp_path))
    assert code == cli.EXIT_USAGE == 2
    assert "refused" in err
    assert out == ""
    assert table_counts(published) == before
    assert not (tmp_path / "x.csv").exists()


def test_sql_has_no_file_access(published, capsys, tmp_path):
    code, _, err = _sql(capsys, published, "SELECT * FROM read_csv('/etc/passwd')")
    assert code == 2
    assert "refused: file and network access is disabled" in err
    code, _, err = _sql(capsys, published, "SELECT * FROM read_parquet('" + str(tmp_path / "*.parquet") + "')")
    assert code == 2


def test_sql_reports_bad_queries(published, capsys):
    code, _, err = _sql(capsys, published, "SELECT * FROM no_such_table")
    assert code == 2
    assert "query failed" in err and "no_such_table" in err
    code, _, err = _sql(capsys, published, "SELEC 1")
    assert code == 2


def test_status_shows_runs_and_quarantine(published, capsys):
    code = cli.main(["status", "--warehouse", str(published)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"{len(GOOD_FILES)} documents" in out
    assert "last 1 runs" in out and "success" in out
    assert f"quarantine ({len(EXPECTED_QUARANTINE)} rows)" in out
    for path, reason in EXPECTED_QUARANTINE.items():
        assert any(path in line and reason in line for line in out.splitlines()), (path, reason)
    assert "not valid JSON" in out  # the detail column


@pytest.mark.parametrize("command", [["sql", "SELECT 1"], ["status"]])
def test_missing_warehouse_is_a_clear_error(tmp_path, capsys, command):
    missing = tmp_path / "nowhere.duckdb"
    code = cli.main([*command, "--warehouse", str(missing)])
    err = capsys.readouterr().err
    assert code == cli.EXIT_WAREHOUSE == 3
    assert str(missing) in err and "does not exist" in err
    assert not missing.exists()


def test_console_script_exit_codes(published, tmp_path):
    ok = subprocess.run([str(ZONEFACTS), "sql", "SELECT count(*) AS n FROM documents", "--warehouse",
                         str(published), "--format", "csv"], capture_output=True, text=True, timeout=60)
    assert (ok.returncode, ok.stdout.strip()) == (0, f"n\n{len(GOOD_FILES)}")
    refused = subprocess.run([str(ZONEFACTS), "sql", "DROP TABLE documents", "--warehouse", str(published)],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "refused DROP statement" in refused.stderr
    missing = subprocess.run([str(ZONEFACTS), "status", "--warehouse", str(tmp_path / "x.duckdb")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 3


def test_console_exit_runs_exit_handlers_and_flushes_output(published, tmp_path):
    """console_main skips the interpreter's teardown, not the exit handlers or buffered output."""
    marker = tmp_path / "handler-ran"
    script = ("import atexit, pathlib, sys\n"
              f"atexit.register(pathlib.Path({str(marker)!r}).write_text, 'yes')\n"
              "from flows.cli import console_main\n"
              f"sys.argv = ['zonefacts', 'sql', 'SELECT 42 AS answer', '--warehouse', {str(published)!r},"
              " '--format', 'csv']\n"
              "console_main()\n"
              "print('unreachable')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["answer", "42"]        # piped stdout is block-buffered: flushed
    assert marker.read_text() == "yes"


def test_table_alignment_counts_cjk_as_double_width():
    text = format_table(["地区", "value"], [["重庆高新区", 1.5], ["x", 12.25]])
    header, rule, *rows, footer = text.splitlines()
    # the second column starts at the same display column on every line
    starts = [display_width(line[: line.index(tok)]) for line, tok in
              ((header, "value"), (rows[0], "1.5"), (rows[1], "12.25"))]
    assert starts[0] + len("value") == starts[1] + len("1.5") == starts[2] + len("12.25")  # right-aligned
    assert footer == "(2 rows)"


def test_validate_reruns_the_warehouse_suites_and_records_them(published, capsys):
    code = cli.main(["validate", "--warehouse", str(published)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("zonefacts validate validate-")
    code, out, _ = _sql(capsys, published,
                        "SELECT count(*) AS n FROM dq_results r JOIN dq_runs USING (run_id) "
                        "WHERE run_id LIKE 'validate-%' AND suite LIKE 'warehouse%'", "--format", "csv")
    assert code == 0 and int(out.splitlines()[1]) >= 5


def test_validate_on_a_missing_warehouse_is_a_clear_error(tmp_path, capsys):
    code = cli.main(["validate", "--warehouse", str(tmp_path / "nope.duckdb")])
    _, err = capsys.readouterr()
    assert code == 3 and "does not exist yet" in err


# every command, with the arguments it requires
COMMANDS = {"run": [], "reextract": [], "forget": ["a"], "corrections": ["check"], "sql": ["SELECT 1"],
            "shell": [], "status": [], "validate": [], "serve": [], "export": ["out"], "report": []}


def test_every_command_takes_the_shared_options():
    parser = cli.build_parser()
    for command, required in COMMANDS.items():
        args = parser.parse_args([command, *required, "--warehouse", "w.duckdb", "--verbose"])
        assert (args.command, args.warehouse, args.verbose) == (command, Path("w.duckdb"), True)
    for command in ("run", "serve", "validate", "reextract", "forget"):
        args = parser.parse_args([command, *COMMANDS[command], "--lock-wait", "2.5"])
        assert args.lock_wait == 2.5 and args.writes
    for command in ("run", "serve"):
        assert parser.parse_args([command, "--inbox", "news"]).inbox == Path("news")
    for command in ("sql", "shell"):
        assert parser.parse_args([command, *COMMANDS[command], "--format", "json"]).format == "json"
    with pytest.raises(SystemExit) as usage:
        parser.parse_args(["status", "--inbox", "news"])          # only where it means something
    assert usage.value.code == cli.EXIT_USAGE


def test_every_command_is_listed_in_help():
    text = " ".join(cli.build_parser().format_help().split())
    for command in COMMANDS:
        assert command in text
    assert "3 warehouse file unusable" in text
