"""The drift figures a person reads in the Evidently HTML and in the Dagster check are the same:
same columns, same KS test and p-value threshold, same share thresholds; a drifted champion
score shows in the check's outcome. Real Evidently runs on seeded synthetic frames."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from smx_assets.domain.monitoring.drift import DriftThresholds, drift_report

COLUMNS = [f"c{i}" for i in range(10)]
THRESHOLDS = DriftThresholds(warn_share=0.2, fail_share=0.35, p_value=0.01)


def _frames(shifted: int, score_shift: float, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({c: rng.normal(size=800) for c in COLUMNS})
    cur = pd.DataFrame({c: rng.normal(size=800) for c in COLUMNS})
    for c in COLUMNS[:shifted]:
        cur[c] += 1.0  # a shift KS finds at any sensible p-value
    cur["score_heat"] = np.clip(rng.uniform(size=800) + score_shift, 0, 1)
    return ref, cur


def _scorer(frame: pd.DataFrame) -> np.ndarray:
    return np.random.default_rng(0).uniform(size=len(frame))


def _evidently_figures(html: Path) -> dict[str, object]:
    """What the HTML itself shows: its drifted-columns counter, share and share tests."""
    text = html.read_text()
    count = re.search(r'"Count of Drifted Columns: count".{0,300}?"counters": \[\{"value": "([\d.]+)"', text)
    assert count, "the report shows no drifted-columns count"
    shares = set(re.findall(r"Drifted Columns: Actual value (\d\.\d+)", text))
    tests = sorted(set(re.findall(r"Share of Drifted Columns: Less (\d\.\d+)", text)))
    return {"count": float(count.group(1)), "shares": shares, "share_tests": tests}


def test_report_and_check_agree_on_columns_test_and_thresholds(tmp_path: Path) -> None:
    ref, cur = _frames(shifted=3, score_shift=0.0)
    html = tmp_path / "report.html"
    result = drift_report(ref, cur, columns=COLUMNS, scorers={"heat": _scorer}, thresholds=THRESHOLDS,
                          sample=800, seed=1, html_path=html)
    # Evidently counted exactly the columns the check counts (the score column apart) ...
    assert result.columns == COLUMNS
    assert result.evidently_count == result.n_drifted == 3
    assert abs(result.evidently_share - result.share) < 1e-12 and result.share == 0.3
    # ... with the check's own share thresholds as the report's tests, warn passed-over, fail not.
    assert result.evidently_share_tests == {"Share of Drifted Columns: Less 0.200": "FAIL",
                                            "Share of Drifted Columns: Less 0.350": "SUCCESS"}
    figures = _evidently_figures(html)
    # The HTML says 3 columns, share 0.300 (so over the same 10 columns, not 11 with the score).
    assert figures["count"] == result.n_drifted and figures["shares"] == {f"{result.share:.3f}"}
    assert figures["share_tests"] == ["0.200", "0.350"]
    level, reason = result.verdict(THRESHOLDS)
    assert level == "warn" and "3 of 10 monitored columns drifted (share 0.300" in reason
    assert "KS p < 0.01" in reason
    assert "score_heat" not in result.p_values and result.drifted_predictions == []
    # every per-column flag is Evidently's: p-values below the threshold exactly where it flagged
    assert sorted(c for c, p in result.p_values.items() if p < THRESHOLDS.p_value) == result.drifted_columns


def test_prediction_drift_raises_the_check_to_warn_with_its_reason(tmp_path: Path) -> None:
    ref, cur = _frames(shifted=0, score_shift=0.3)
    result = drift_report(ref, cur, columns=COLUMNS, scorers={"heat": _scorer}, thresholds=THRESHOLDS,
                          sample=800, seed=1, html_path=tmp_path / "r.html")
    assert result.n_drifted == 0 and THRESHOLDS.level(result.share) == "ok"
    assert result.drifted_predictions == ["heat"]
    assert result.prediction["heat"]["p_value"] < 1e-6
    level, reason = result.verdict(THRESHOLDS)
    assert level == "warn"
    assert "prediction drift: heat (KS p=" in reason and "mean" in reason
    json.dumps(result.prediction)  # JSON-able metadata


def test_share_levels_match_evidentlys_less_than_tests() -> None:
    # Evidently's "Less X" test fails at share >= X: the check's levels switch at the same point.
    assert THRESHOLDS.level(0.35) == "fail" and THRESHOLDS.level(0.2) == "warn"
    assert THRESHOLDS.level(0.19999) == "ok"
