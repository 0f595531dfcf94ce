"""The reliability suite: faults, crash points, bad input, security (see README.md)."""
