"""Helpers that run real servers locally for tests, benchmarks and the local topology."""
