"""Storage retention: the daily asset that keeps every store's size bounded (domain/retention.py).

Loaded by ``smx_assets.definitions`` from the defs folder (no hand-written object lists)."""
