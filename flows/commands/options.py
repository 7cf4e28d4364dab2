"""The options several commands share, defined once, and what they resolve to.

Every command takes ``--warehouse`` and ``--verbose``; ``run`` and ``serve`` take ``--inbox``
and ``--lock-wait``; ``sql`` and ``shell`` take ``--format``. A command lists the groups it
takes as argparse parent parsers (``options.parents(...)``).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

from flows.errors import WarehouseFiles, missing

# option dest → Settings field it overrides (unset options keep the environment's value)
_SETTINGS_FIELDS = {"warehouse": "warehouse", "inbox": "inbox", "lock_wait": "lock_wait_seconds",
                    "max_file_bytes": "max_file_bytes", "batch_documents": "batch_documents"}


def _group(*arguments: tuple[tuple[str, ...], dict], **defaults) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    for flags, options in arguments:
        parser.add_argument(*flags, **options)
    parser.set_defaults(**defaults)
    return parser


class Options(NamedTuple):
    """The shared option groups as parent parsers (argparse copies them into each command)."""

    common: argparse.ArgumentParser
    inbox: argparse.ArgumentParser
    lock_wait: argparse.ArgumentParser
    format: argparse.ArgumentParser

    @classmethod
    def build(cls) -> "Options":
        return cls(
            common=_group(
                (("--warehouse",), dict(type=Path, metavar="PATH",
                                        help="warehouse file (default: $ZONEFACTS_WAREHOUSE or ./zonefacts.duckdb)")),
                (("--verbose", "-v"), dict(action="store_true",
                                           help="show Prefect's and zonefacts' logs, and the traceback of an "
                                                "error")),
                writes=False,   # a command that writes the working file (run, validate) says so
            ),
            inbox=_group((("--inbox",), dict(type=Path, metavar="DIR", help="directory of news files (default: "
                                                              "$ZONEFACTS_INBOX or ./samples)"))),
            lock_wait=_group((("--lock-wait",), dict(
                type=float, metavar="SECONDS",
                help="wait this long for another run on the same warehouse to end before giving up "
                     "(`run` exits 75, a scheduled run is skipped)"))),
            format=_group((("--format",), dict(choices=("table", "csv", "json"), default="table",
                                               help="output format (default table)"))),
        )

    def parents(self, *groups: str) -> list[argparse.ArgumentParser]:
        """The parent parsers of a command: the common options and the named groups."""
        return [self.common, *(getattr(self, name) for name in groups)]


def warehouse_of(args: argparse.Namespace) -> Path:
    """The published warehouse of a command. The environment is read only without
    ``--warehouse`` (loading the settings imports pydantic, longer than a quick command)."""
    if args.warehouse is not None:
        return args.warehouse
    from flows.settings import load_settings

    return load_settings().warehouse


def existing_warehouse(args: argparse.Namespace) -> Path:
    """The published warehouse of a command that reads it; raises when it is not there (before
    DuckDB and the warehouse code are imported: a wrong path answers at once)."""
    warehouse = warehouse_of(args)
    if not warehouse.exists():
        raise missing(warehouse)
    return warehouse


def settings_of(args: argparse.Namespace):
    """The environment's ``Settings`` with the command line's options over them."""
    from flows.settings import load_settings

    return load_settings().with_overrides(
        **{field: getattr(args, dest, None) for dest, field in _SETTINGS_FIELDS.items()})


def files_of(args: argparse.Namespace) -> WarehouseFiles:
    """The files a command uses, for its error messages: the working file too if it writes."""
    published = warehouse_of(args)
    if not args.writes:
        return WarehouseFiles(published)
    from flows.settings import Settings

    return WarehouseFiles(published, Settings(warehouse=published).work_path)
