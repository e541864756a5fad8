from smx_assets.defs.ops_health.definitions import defs

__all__ = ["defs"]
