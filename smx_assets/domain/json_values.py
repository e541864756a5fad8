"""One way to turn a cell of a frame into a value a JSON column accepts.

Rejected readings, rejected import rows and the feature vectors stored with predictions all end
up in JSON columns. JSON has no NaN or infinity, and PostgreSQL refuses ``Infinity``; a missing
value becomes ``null``, while an infinite one is kept as the text ``"inf"``/``"-inf"`` because
that is exactly what a rejected row must show (it was rejected *for* being infinite).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd


def json_safe(value: Any, max_text: int | None = None) -> Any:
    """``value`` as None, bool, int, finite float, ISO text or (optionally shortened) text."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isfinite(f):
            return f
        return None if math.isnan(f) else str(f)
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date, dt.time)):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).isoformat()
    text = value if isinstance(value, str) else str(value)
    return text if max_text is None else text[:max_text]
