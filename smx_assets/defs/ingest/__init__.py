"""The external sources the platform reads but does not produce (bolus and climate readings, herd records).

Loaded by ``smx_assets.definitions`` from the defs folder (no hand-written object lists)."""
