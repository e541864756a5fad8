"""Pure domain logic: herd schema, sensor stores, simulator, features, use cases.

Nothing under this package imports Dagster, so it can be tested, benchmarked and reused
(CLI, notebooks, another orchestrator) without an orchestration runtime.
"""
