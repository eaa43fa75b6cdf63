"""Stand-alone measurements behind the closing notes (run as ``python -m bench.checks.NAME``)."""
