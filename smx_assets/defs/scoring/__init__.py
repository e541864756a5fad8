"""``scores`` (ten-minute partitions), the scoring job, its sensor and the plain-schedule alternative.

Loaded by ``smx_assets.definitions`` from the defs folder (no hand-written object lists)."""
