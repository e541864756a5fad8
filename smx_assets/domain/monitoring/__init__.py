"""Monitoring: drift, alert volume, delayed-label performance, operations, retraining decisions.

Pure pandas/SQLAlchemy/Evidently/MLflow; the Dagster layer is ``smx_assets.defs.monitoring``.
"""
