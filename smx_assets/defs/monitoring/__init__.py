from smx_assets.defs.monitoring.definitions import defs

__all__ = ["defs"]
