"""Use cases (heat, calving, fever): declarations, alert policies and event-level evaluation.

Pure pandas/numpy; importing this package must stay cheap (the 10-minute scoring path imports
it), so MLflow lives in ``smx_assets.domain.model_registry`` instead. The registry of use cases
is ``catalog.py``.
"""
