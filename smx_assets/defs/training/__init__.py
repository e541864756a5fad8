"""``<uc>_model`` and ``<uc>_promotion`` for every catalog use case, the training and rollback jobs, the weekly schedule.

Loaded by ``smx_assets.definitions`` from the defs folder (no hand-written object lists)."""
