"""``zonefacts reextract``, ``zonefacts forget`` and ``zonefacts corrections check``: the commands
of the fact history (``warehouse.history``) and of the analysts' corrections file.

``reextract`` is a flow run that reads no file: under the run lock, in one transaction, and
published like a run. ``forget`` takes the same lock, retracts documents in the working file
and publishes it. ``corrections check`` only reads the file: exit 2 when a line has an error.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from flows.commands.options import Options, settings_of
from flows.errors import EXIT_OK, EXIT_TEMPFAIL, EXIT_USAGE, CommandError, missing, usage


def register(sub, options: Options) -> None:
    reextract = sub.add_parser("reextract", parents=options.parents("lock_wait"),
                               help="extract stored documents again with the current vocabulary and corrections")
    reextract.add_argument("--documents", metavar="GLOB", default="*",
                           help="only the documents whose path or file stem matches GLOB (default: all)")
    reextract.set_defaults(handler=cmd_reextract, writes=True)

    forget = sub.add_parser("forget", parents=options.parents("lock_wait"),
                            help="retract documents and their facts (kept in the history; their files are "
                                 "skipped from now on)")
    forget.add_argument("documents", nargs="+", metavar="DOCUMENT", help="a file stem, path or document id")
    forget.set_defaults(handler=cmd_forget, writes=True)

    corrections = sub.add_parser("corrections", help="the analysts' corrections file")
    actions = corrections.add_subparsers(dest="corrections_command", required=True)
    check = actions.add_parser("check", parents=options.parents(),
                               help="check the corrections file; exit 2 when a line has an error")
    check.add_argument("--file", type=Path, metavar="CSV",
                       help="the file to check (default: $ZONEFACTS_CORRECTIONS, else "
                            "<warehouse stem>.corrections.csv beside the warehouse)")
    check.set_defaults(handler=cmd_corrections_check)


def cmd_reextract(args: argparse.Namespace) -> int:
    from flows.commands.run import run_flow

    settings = settings_of(args)
    if not settings.warehouse.exists():     # nothing stored to re-extract
        raise missing(settings.warehouse)
    return run_flow(args, settings, reextract=args.documents, read_inbox=False)


def cmd_forget(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    if not settings.warehouse.exists():
        raise missing(settings.warehouse)
    from flows.locking import RunLocked, run_lock
    from warehouse import history, store

    try:
        with run_lock(settings.lock_path, settings.lock_wait_seconds or 0.0):
            con = store.open_work(settings.warehouse, settings.work_path)
            try:
                forgotten = history.forget(con, args.documents)
            finally:
                con.close()
            if forgotten.documents:
                store.publish(settings.work_path, settings.warehouse)
    except RunLocked as exc:
        raise CommandError(str(exc), EXIT_TEMPFAIL) from exc
    if not forgotten.documents:
        raise usage(f"no current document is named {', '.join(map(repr, forgotten.unmatched))} "
                    "(a file stem, a path relative to the inbox, or a document id); nothing was changed")
    print(f"zonefacts forget: forgot {forgotten.documents} documents, {forgotten.facts} facts retracted")
    for name in forgotten.unmatched:
        print(f"  no current document is named {name!r}")
    print("  their facts stay in fact_history; see observation_changes")
    return EXIT_OK


def cmd_corrections_check(args: argparse.Namespace) -> int:
    from transforms.vocabulary import load_vocabulary
    from warehouse import corrections

    settings = settings_of(args)
    path = args.file or corrections.corrections_path(settings.warehouse, settings.corrections)
    try:
        found = corrections.read(path, load_vocabulary())
    except OSError as exc:
        raise usage(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not found.exists:
        print(f"zonefacts corrections: no corrections file at {path}")
        return EXIT_OK
    print(f"zonefacts corrections: {path}: {found.lines.height} lines, {len(found.errors)} with errors")
    for error in found.errors:
        print(f"  {error}")
    if found.errors:
        print("  lines with an error are not applied; the others are, at the next run")
        return EXIT_USAGE
    return EXIT_OK
