from smx_assets.defs.features.definitions import defs

__all__ = ["defs"]
