"""``zonefacts validate``: the warehouse suites on demand, with the lock, working file and
publish of a run; records them in ``dq_runs``, rebuilds Data Docs, alerts on new failures."""
from __future__ import annotations

import argparse

from flows.commands.options import Options, settings_of
from flows.errors import EXIT_OK, EXIT_TEMPFAIL, CommandError, missing


def register(sub, options: Options) -> None:
    validate = sub.add_parser("validate", parents=options.parents("lock_wait"),
                              help="re-run the warehouse suites, record them and alert on new failures")
    validate.set_defaults(handler=cmd_validate, writes=True)


def cmd_validate(args: argparse.Namespace) -> int:
    import uuid
    from datetime import datetime, timezone

    settings = settings_of(args)
    if not settings.warehouse.exists():
        raise missing(settings.warehouse)
    from flows.locking import RunLocked, run_lock
    from flows.pipeline import publish_stage, quality_stage
    from flows.validation import UnwalkedList

    run_id = "validate-" + uuid.uuid4().hex[:12]
    try:
        with run_lock(settings.lock_path, settings.lock_wait_seconds):
            quality = quality_stage(str(settings.work_path), str(settings.warehouse), run_id, UnwalkedList(),
                                    str(settings.data_docs_dir), settings.alerts, datetime.now(timezone.utc),
                                    settings.coverage, settings.reextraction)
            publish_stage(str(settings.work_path), str(settings.warehouse))
    except RunLocked as exc:
        raise CommandError(str(exc), EXIT_TEMPFAIL) from exc
    print(f"zonefacts validate {run_id}: {quality['expectations_evaluated']} expectations, "
          f"{len(quality['failed'])} failed")
    for failed in quality["failed"]:
        print(f"    {failed['severity']:<7} {failed['suite']}.{failed['expectation']} "
              f"({failed['unexpected_count']} rows)")
    if quality["data_docs"]:
        print(f"  data docs     {quality['data_docs']}")
    return EXIT_OK
