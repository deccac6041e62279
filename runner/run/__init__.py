"""Runs: one pass through env.py, the write path, the change log, verify, plans."""
