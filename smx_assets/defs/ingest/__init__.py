from smx_assets.defs.ingest.definitions import defs

__all__ = ["defs"]
