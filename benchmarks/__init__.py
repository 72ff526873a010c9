"""Benchmarks: kmeans_xp against its peers, in one process, on the same data (see README)."""
