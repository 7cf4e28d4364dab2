"""Exit codes and messages of the real ``zonefacts`` command (flows.errors).

3: a damaged, misplaced or unusable warehouse or working file, in one line that names the file
and the recovery; 2: a refused or failed query; 1: a failed run, said once, without Prefect's
traceback unless --verbose. The warehouse is built by `zonefacts run --inbox samples`, and its
damaged copies are that file with random bytes over its blocks, header intact.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from conftest import ROOT, ZONEFACTS
from flows.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, EXIT_WAREHOUSE

HEADER_BYTES = 3 * 4096   # DuckDB's main header and its two database headers


def _env(api_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZONEFACTS_") and k != "PREFECT_API_URL"}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def zonefacts(*args: str, api_url: str | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(ZONEFACTS), *args], input=stdin, capture_output=True, text=True, cwd=ROOT,
                          env=_env(api_url), timeout=300)


@pytest.fixture(scope="module")
def built(tmp_path_factory, prefect_api_url) -> Path:
    """A published warehouse of the samples, made by the command itself."""
    warehouse = tmp_path_factory.mktemp("built") / "zonefacts.duckdb"
    proc = zonefacts("run", "--inbox", str(ROOT / "samples"), "--warehouse", str(warehouse), api_url=prefect_api_url)
    assert proc.returncode == EXIT_OK, proc.stderr
    return warehouse


def _table_blocks(path: Path) -> tuple[int, list[int]]:
    """The block size and the blocks holding table data (not the catalog's metadata blocks)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        block_size = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()[0]
        metadata = {r[0] for r in con.execute("SELECT DISTINCT block_id FROM pragma_metadata_info()").fetchall()}
        blocks: set[int] = set()
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            blocks |= {r[0] for r in con.execute("SELECT DISTINCT block_id FROM pragma_storage_info(?) "
                                                 "WHERE block_id >= 0", [table]).fetchall()}
    finally:
        con.close()
    return block_size, sorted(blocks - metadata)


def damaged_copy(built: Path, target: Path, kind: str) -> bytes:
    """``target``: a copy of ``built`` with random bytes over every block after the headers
    ("every block": DuckDB refuses it when it connects) or over the table data only ("table
    blocks": it connects, and the first query that reads a table fails). Returns its bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built, target)
    if kind == "every block":
        spans = [(HEADER_BYTES, target.stat().st_size - HEADER_BYTES)]
    else:
        block_size, blocks = _table_blocks(built)
        assert blocks, "the built warehouse has table data"
        spans = [(HEADER_BYTES + block * block_size, block_size) for block in blocks]
    with open(target, "r+b") as fh:
        for offset, size in spans:
            fh.seek(offset)
            fh.write(os.urandom(size))
    return target.read_bytes()


def assert_one_line_naming(proc: subprocess.CompletedProcess, *names: Path) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for name in names:
        assert str(name) in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------- 3: damaged files

READERS = {
    "sql": lambda wh, tmp: ("sql", "SELECT * FROM documents", "--warehouse", str(wh)),
    "status": lambda wh, tmp: ("status", "--warehouse", str(wh)),
    "report": lambda wh, tmp: ("report", "--out", str(tmp / "report"), "--warehouse", str(wh)),
    "export": lambda wh, tmp: ("export", str(tmp / "export"), "--warehouse", str(wh)),
}


@pytest.mark.parametrize("kind", ["every block", "table blocks"])
@pytest.mark.parametrize("command", list(READERS))
def test_a_damaged_snapshot_is_exit_3_naming_it_for_every_reader(built, tmp_path, command, kind):
    warehouse = tmp_path / "copy" / "zonefacts.duckdb"
    damaged = damaged_copy(built, warehouse, kind)
    proc = zonefacts(*READERS[command](warehouse, tmp_path))
    assert proc.returncode == EXIT_WAREHOUSE, (proc.stdout, proc.stderr)
    line = assert_one_line_naming(proc, warehouse)
    assert line.startswith(f"zonefacts {command}: ") and "damaged" in line
    assert f"mv '{warehouse}' '{warehouse}.damaged'" in line            # the README's recovery
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert warehouse.read_bytes() == damaged
    assert not (tmp_path / "export").exists() or not any((tmp_path / "export").iterdir())


@pytest.mark.parametrize("kind", ["every block", "table blocks"])
def test_a_run_on_a_damaged_snapshot_is_exit_3_naming_it(built, prefect_api_url, tmp_path, kind):
    warehouse = tmp_path / "zonefacts.duckdb"
    damaged = damaged_copy(built, warehouse, kind)
    proc = zonefacts("run", "--inbox", str(ROOT / "samples"), "--warehouse", str(warehouse), api_url=prefect_api_url)
    assert proc.returncode == EXIT_WAREHOUSE, (proc.stdout, proc.stderr)
    line = assert_one_line_naming(proc, warehouse)
    assert f"mv '{warehouse}' '{warehouse}.damaged'" in line
    if kind == "table blocks":
        # its blocks were copied into a fresh working file before a query met them: both are damaged
        assert "both damaged" in line and str(warehouse) + ".work" in line
    assert proc.stdout == ""
    assert warehouse.read_bytes() == damaged                             # never a fresh start over it


def test_a_run_on_a_damaged_working_copy_says_so_and_names_both(built, prefect_api_url, tmp_path):
    warehouse = tmp_path / "zonefacts.duckdb"
    shutil.copyfile(built, warehouse)
    work = tmp_path / "zonefacts.duckdb.work"
    damaged = damaged_copy(built, work, "every block")     # newer than the snapshot: the run uses it
    published = warehouse.read_bytes()
    proc = zonefacts("run", "--inbox", str(ROOT / "samples"), "--warehouse", str(warehouse), api_url=prefect_api_url)
    assert proc.returncode == EXIT_WAREHOUSE, (proc.stdout, proc.stderr)
    line = assert_one_line_naming(proc, work, warehouse)
    assert f"the working copy {work} of {warehouse} is damaged" in line
    assert f"mv '{work}' '{work}.damaged'" in line
    assert work.read_bytes() == damaged and warehouse.read_bytes() == published


def test_validate_on_a_damaged_snapshot_is_exit_3(built, tmp_path):
    warehouse = tmp_path / "zonefacts.duckdb"
    damaged_copy(built, warehouse, "every block")
    proc = zonefacts("validate", "--warehouse", str(warehouse))
    assert proc.returncode == EXIT_WAREHOUSE, proc.stderr
    assert_one_line_naming(proc, warehouse)


def test_a_shell_on_a_damaged_snapshot_is_exit_3(built, tmp_path):
    warehouse = tmp_path / "zonefacts.duckdb"
    damaged_copy(built, warehouse, "table blocks")
    proc = zonefacts("shell", "--warehouse", str(warehouse), stdin="SELECT 1 AS one;\nSELECT * FROM documents;\n")
    assert proc.returncode == EXIT_WAREHOUSE, proc.stderr
    assert "one" in proc.stdout                        # what ran before the damage was met
    assert_one_line_naming(proc, warehouse)


# --------------------------------------------------------------------------- 3: unusable places


@pytest.mark.parametrize("command", ["run", "status", "sql", "validate", "export", "report"])
def test_a_warehouse_path_under_a_regular_file_is_exit_3_naming_it(tmp_path, command):
    (tmp_path / "notes.txt").write_text("a file, not a directory\n")
    warehouse = tmp_path / "notes.txt" / "zonefacts.duckdb"
    args = {"run": ("run", "--inbox", str(ROOT / "samples")), "status": ("status",),
            "sql": ("sql", "SELECT 1"), "validate": ("validate",),
            "export": ("export", str(tmp_path / "out")), "report": ("report", "--out", str(tmp_path / "out"))}
    proc = zonefacts(*args[command], "--warehouse", str(warehouse))
    assert proc.returncode == EXIT_WAREHOUSE, proc.stderr
    line = assert_one_line_naming(proc, warehouse)
    assert f"{tmp_path / 'notes.txt'} is a file, not a directory" in line
    assert (tmp_path / "notes.txt").read_text() == "a file, not a directory\n"


def test_a_run_whose_lock_cannot_be_created_in_proc_is_exit_3(prefect_api_url):
    warehouse = Path("/proc/zonefacts-exit-codes.duckdb")
    proc = zonefacts("run", "--inbox", str(ROOT / "samples"), "--warehouse", str(warehouse), api_url=prefect_api_url)
    assert proc.returncode == EXIT_WAREHOUSE, proc.stderr
    line = assert_one_line_naming(proc, warehouse)
    assert f"'{warehouse}.lock'" in line and "give --warehouse a path" in line


@pytest.fixture
def read_only_copy(built, tmp_path):
    """``built`` on a tmpfs remounted read-only (skips where mounting is not permitted)."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()})")
    try:
        shutil.copyfile(built, mnt / "zonefacts.duckdb")
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        yield mnt / "zonefacts.duckdb"
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_run_on_a_read_only_file_system_is_exit_3_and_reading_still_works(read_only_copy, prefect_api_url):
    with pytest.raises(OSError):
        (read_only_copy.parent / "probe").write_text("x")
    proc = zonefacts("run", "--inbox", str(ROOT / "samples"), "--warehouse", str(read_only_copy), "--rescan",
                     api_url=prefect_api_url)
    assert proc.returncode == EXIT_WAREHOUSE, proc.stderr
    line = assert_one_line_naming(proc, read_only_copy)
    assert "Read-only file system" in line
    status = zonefacts("status", "--warehouse", str(read_only_copy))
    assert status.returncode == EXIT_OK, status.stderr
    assert "6 documents" in status.stdout


def test_a_snapshot_another_program_holds_for_writing_is_exit_3_with_advice_that_helps(built, tmp_path):
    warehouse = tmp_path / "zonefacts.duckdb"
    shutil.copyfile(built, warehouse)
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys\n"
                               f"con = duckdb.connect({str(warehouse)!r})\nprint('held', flush=True)\n"
                               "sys.stdin.read()\n"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = zonefacts("sql", "SELECT count(*) FROM documents", "--warehouse", str(warehouse))
    finally:
        holder.stdin.close()
        holder.wait(30)
    assert proc.returncode == EXIT_WAREHOUSE, proc.stderr
    line = assert_one_line_naming(proc, warehouse)
    assert "locked by another program" in line and "close that program's connection" in line
    assert "`zonefacts sql`" not in line          # not the command that just failed


# --------------------------------------------------------------------------- 2 and 1


def test_a_failed_query_is_exit_2(built):
    proc = zonefacts("sql", "SELECT nothing FROM no_such_table", "--warehouse", str(built))
    assert proc.returncode == EXIT_USAGE
    line = assert_one_line_naming(proc)
    assert line.startswith("zonefacts sql: query failed:") and "no_such_table" in line


@pytest.mark.slow
def test_a_failed_run_is_exit_1_said_once_without_prefects_traceback(tmp_path):
    """On Prefect's temporary server, whose end used to lose the run's logs noisily."""
    (tmp_path / "inbox.txt").write_text("an inbox that is a file\n")
    proc = zonefacts("run", "--inbox", str(tmp_path / "inbox.txt"), "--warehouse", str(tmp_path / "zonefacts.duckdb"))
    assert proc.returncode == EXIT_FAILED, (proc.stdout, proc.stderr)
    problem = f"{tmp_path / 'inbox.txt'} is not a directory"
    assert (proc.stdout + proc.stderr).count(problem) == 1, (proc.stdout, proc.stderr)
    line = assert_one_line_naming(proc, tmp_path / "inbox.txt")
    assert line.startswith("zonefacts run: run failed:")
    assert proc.stdout.startswith("zonefacts run ") and ": failed" in proc.stdout.splitlines()[0]
    for noise in ("Traceback", "Error logging to API", "Encountered exception", "Flow run"):
        assert noise not in proc.stdout + proc.stderr


def test_verbose_shows_the_traceback_of_a_failed_run(tmp_path, prefect_api_url):
    (tmp_path / "inbox.txt").write_text("an inbox that is a file\n")
    proc = zonefacts("run", "--verbose", "--inbox", str(tmp_path / "inbox.txt"),
                     "--warehouse", str(tmp_path / "zonefacts.duckdb"), api_url=prefect_api_url)
    assert proc.returncode == EXIT_FAILED
    assert "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("zonefacts run: run failed:")
