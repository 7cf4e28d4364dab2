"""``zonefacts`` command line: the parser of every command, and the one place errors become
exit codes (``flows.errors`` lists them).

The commands live in ``flows.commands``, one module each; the options several share are
defined once in ``flows.commands.options``. A command returns its exit code or raises:
``main`` prints one line ``zonefacts <command>: <what happened>`` for what ``flows.errors``
recognises, with the traceback only under ``--verbose``; anything else is a bug and keeps
its traceback.
"""
from __future__ import annotations

import argparse
import atexit
import os
import sys
import time
import typing

from flows import collector
from flows.commands import history, outputs, query, run, serve, status, validate
from flows.commands.options import Options, files_of
from flows.errors import EXIT_FAILED, EXIT_OK, EXIT_TEMPFAIL, EXIT_USAGE, EXIT_WAREHOUSE, explain

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_TEMPFAIL", "EXIT_USAGE", "EXIT_WAREHOUSE", "build_parser",
           "console_main", "exit_without_teardown", "main"]

# in the order `zonefacts --help` lists them
COMMANDS = (run, history, query, status, validate, serve, outputs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zonefacts", description="Regional-economy news text → DuckDB warehouse of indicator facts.",
        epilog="exit codes: 0 ok, 1 run failed, 2 usage/refused query, 3 warehouse file unusable "
               "(the message names it and how to recover), 75 another run holds the lock")
    sub = parser.add_subparsers(dest="command", required=True)
    options = Options.build()
    for command in COMMANDS:
        command.register(sub, options)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.monotonic()
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        _say(args, f"interrupted after {time.monotonic() - started:.1f} s")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        failure = explain(exc, files_of(args))
        if failure is None:
            raise
        if args.verbose:
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
        _say(args, str(failure))
        return failure.code


def _say(args: argparse.Namespace, line: str) -> None:
    print(f"zonefacts {args.command}: {line}", file=sys.stderr)


def exit_without_teardown(code: int | None) -> typing.NoReturn:
    """Exit the process once a command is done, without tearing the interpreter down.

    Freeing the modules one by one (GX, Prefect, pandas) takes about 2 s on a small machine
    and does nothing the OS does not do at exit. The exit handlers still run first (Prefect's
    event and log flushes, logging, thread pools), and the streams are flushed; only the
    module teardown is skipped."""
    try:
        atexit._run_exitfuncs()   # CPython runs these at exit; os._exit alone would skip them
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(int(code or 0))


def console_main() -> None:
    """The ``zonefacts`` command: ``main``, then ``exit_without_teardown``."""
    collector.relax()
    exit_without_teardown(main())


if __name__ == "__main__":
    console_main()
