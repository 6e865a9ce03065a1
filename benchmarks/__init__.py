"""minicnn's benchmark suite: `python -m benchmarks --help` (see run.py)."""
