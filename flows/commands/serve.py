"""``zonefacts serve``: the ``zonefacts-run`` flow as a Prefect deployment on a schedule
(``flows.serve`` does the serving; this checks the options first, a daemon must not start
on a bad configuration)."""
from __future__ import annotations

import argparse

from flows.commands.options import Options, settings_of
from flows.errors import EXIT_FAILED, CommandError, usage


def register(sub, options: Options) -> None:
    serve = sub.add_parser("serve", parents=options.parents("inbox", "lock_wait"),
                           help="run the pipeline on a schedule (Prefect deployment)")
    serve.add_argument("--cron", help='cron schedule (default "0 7 * * *")')
    serve.add_argument("--interval", type=float, metavar="SECONDS", help="run every SECONDS instead of a cron")
    serve.add_argument("--timezone", default="Asia/Shanghai", help="time zone of the schedule (default Asia/Shanghai)")
    serve.set_defaults(handler=cmd_serve, writes=True)


def cmd_serve(args: argparse.Namespace) -> int:
    if args.cron is not None and args.interval is not None:
        raise usage("give --cron or --interval, not both")
    if args.interval is not None and args.interval <= 0:
        raise usage("--interval must be a positive number of seconds")
    settings = settings_of(args)
    if not settings.inbox.is_dir():
        raise usage(f"inbox {settings.inbox} is not a directory")
    from flows.commands.prefect_env import prepare_prefect

    prepare_prefect(verbose=args.verbose, quiet_runs=False)
    from flows.serve import serve

    try:
        return serve(inbox=settings.inbox, warehouse=settings.warehouse,
                     cron=None if args.interval is not None else (args.cron or "0 7 * * *"),
                     interval=args.interval, timezone=args.timezone,
                     max_file_bytes=settings.max_file_bytes, batch_documents=settings.batch_documents,
                     lock_wait_seconds=settings.lock_wait_seconds or 0.0)
    except (RuntimeError, ValueError) as exc:
        raise CommandError(str(exc), EXIT_FAILED) from exc
