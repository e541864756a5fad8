from smx_assets.defs.scoring.definitions import defs

__all__ = ["defs"]
