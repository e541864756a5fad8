"""Platform health (a run that touches every store) and housekeeping (run retention).

Loaded by ``smx_assets.definitions`` from the defs folder (no hand-written object lists)."""
