"""The farm stand-in for demos: the simulator's live mode as a job on a ten-minute schedule.

Loaded by ``smx_assets.definitions`` from the defs folder (no hand-written object lists)."""
