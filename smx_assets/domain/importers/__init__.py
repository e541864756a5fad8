"""Importing real sensor exports (SCR Heatime spreadsheets, the open long format).

``formats`` reads a file into one canonical frame, ``rows`` classifies every row (written or
rejected with a reason), ``herd`` derives lactations, inseminations and status from the herd
columns, and ``service.import_paths`` puts it all into the stores. No Dagster here: the CLI
(``smx import``), the Dagster ``import_job`` and the real-data benchmark call ``import_paths``.
"""

from smx_assets.domain.importers.service import FileReport, ImportReport, import_paths

__all__ = ["FileReport", "ImportReport", "import_paths"]
