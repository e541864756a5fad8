"""Scoring: models applied to the serving features of ten-minute buckets, with lineage."""
