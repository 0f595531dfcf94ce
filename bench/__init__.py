"""Benchmarks of salt-immutable (``make bench``): four figures, each a ratio or a count measured side by
side in one run, never an absolute time. See ``bench/README.md``."""
