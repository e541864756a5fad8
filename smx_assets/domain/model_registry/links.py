"""Addresses in the MLflow UI for runs, model versions and run artifacts.

Why: the Dagster UI showed MLflow run ids as plain text and the drift report as a server file
path (``file://...``) a browser elsewhere cannot open. Asset metadata carries these URLs
(``MetadataValue.url``) instead, built against the MLflow UI's base URL
(``SMX_MLFLOW_UI_URL``, default ``http://127.0.0.1:5000``: what ``make ui`` starts).

The paths are the MLflow 3.17 UI's own hash routes (``mlflow/server/js``:
``/experiments/:experimentId/runs/:runUuid``, ``.../artifactPath/*``, ``/runs/:runUuid``,
``/models/:modelName/versions/:version``). An HTML artifact opened on the artifact route is
shown in the UI's preview (the server's ``get-artifact`` sends every file as a download, on
purpose, against cross-site scripting).

Pure string building: no MLflow import, no environment.
"""

from __future__ import annotations

from urllib.parse import quote


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


def run_url(base_url: str, run_id: str, experiment_id: str | None = None) -> str:
    """The run's page (the experiment-less route redirects to it when the experiment is unknown)."""
    if experiment_id:
        return f"{_base(base_url)}/#/experiments/{quote(str(experiment_id))}/runs/{quote(run_id)}"
    return f"{_base(base_url)}/#/runs/{quote(run_id)}"


def model_version_url(base_url: str, model_name: str, version: str | int) -> str:
    """A registered model version's page (aliases, tags, source run)."""
    return f"{_base(base_url)}/#/models/{quote(model_name, safe='')}/versions/{quote(str(version))}"


def artifact_url(base_url: str, experiment_id: str, run_id: str, artifact_path: str) -> str:
    """A run artifact opened in the UI's artifact browser (HTML is previewed there)."""
    return (f"{_base(base_url)}/#/experiments/{quote(str(experiment_id))}/runs/{quote(run_id)}"
            f"/artifactPath/{quote(artifact_path)}")


def markdown_link(text: str, url: str) -> str:
    """A Markdown link for tables in ``MetadataValue.md`` (``|`` would split a table cell)."""
    return f"[{text.replace('|', '/').replace(']', ')')}]({url})"


__all__ = ["artifact_url", "markdown_link", "model_version_url", "run_url"]
