"""Load benchmarks, run with `python -m bench.<name>`; see bench/README.md."""
