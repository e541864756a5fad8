"""Daily monitoring assets and checks, the monitoring/retraining jobs, their schedule and the retraining sensor.

Loaded by ``smx_assets.definitions`` from the defs folder (no hand-written object lists)."""
