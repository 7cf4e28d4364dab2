"""The ``zonefacts`` subcommands, one module each: its parser (``register``) and its handler.

Each module imports only the standard library and ``flows.commands.options`` / ``flows.errors``
at the top, so that ``zonefacts --help`` and the quick commands start fast; what a handler
needs (DuckDB, Prefect, the settings) it imports when it runs.
"""
