from smx_assets.defs.training.definitions import defs

__all__ = ["defs"]
