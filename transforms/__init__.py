"""Pure transforms over Polars frames: documents → sentences → mentions → observations.

Nothing in this package touches files, the network or DuckDB; the flows in
``flows/`` feed it bytes and hand its frames to ``warehouse/``.
"""
