"""``zonefacts export`` and ``zonefacts report``: files made from the published snapshot.

Both read the snapshot read-only, so they can run during a run. A snapshot they cannot read
is exit 3 naming it; a destination they cannot write is exit 1 naming the destination.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from flows.commands.options import Options, existing_warehouse
from flows.errors import EXIT_FAILED, EXIT_OK, CommandError, unreadable_snapshot, usage


def register(sub, options: Options) -> None:
    export = sub.add_parser("export", parents=options.parents(),
                            help="write every view and table of the published warehouse to DIR")
    export.add_argument("dir", type=Path)
    export.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    export.set_defaults(handler=cmd_export)

    report = sub.add_parser("report", parents=options.parents(),
                            help="write a static offline HTML report (index.html)")
    report.add_argument("--out", type=Path, default=Path("report"), help="output directory (default ./report)")
    report.set_defaults(handler=cmd_report)


def cmd_export(args: argparse.Namespace) -> int:
    warehouse = existing_warehouse(args)
    import duckdb

    from flows.export import export_warehouse

    try:
        written = export_warehouse(warehouse, args.dir, args.format)
    except ValueError as exc:
        raise usage(str(exc)) from exc
    except OSError as exc:
        raise CommandError(f"could not write to {args.dir}: {exc}", EXIT_FAILED) from exc
    except duckdb.Error as exc:
        raise unreadable_snapshot(exc, warehouse) from exc
    for item in written:
        print(f"{item.rows:>9} rows  {item.path}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    warehouse = existing_warehouse(args)
    import duckdb

    from flows.report import write_report

    try:
        target = write_report(warehouse, args.out)
    except OSError as exc:
        raise CommandError(f"could not write to {args.out}: {exc}", EXIT_FAILED) from exc
    except duckdb.Error as exc:
        raise unreadable_snapshot(exc, warehouse) from exc
    print(f"zonefacts report: {target}")
    return EXIT_OK
