"""The Dagster layer: one sub-package per domain (ingest, features, training, scoring,
monitoring), each exposing ``defs: dagster.Definitions`` with its assets, checks, jobs,
schedules and sensors. Kept thin: the work happens in ``smx_assets.domain``."""
