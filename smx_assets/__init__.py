"""smx_assets: ML for dairy-cow bolus sensor streams, as Dagster software-defined assets."""

__version__ = "0.1.0"
