from smx_assets.defs.simulation.definitions import defs

__all__ = ["defs"]
