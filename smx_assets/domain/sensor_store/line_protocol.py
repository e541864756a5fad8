"""InfluxDB line protocol for a frame, through influxdb-client's ``DataframeSerializer``.

Its own module because two sides need it: the InfluxDB store (small writes, in-process) and
the serialiser worker processes (big writes, ``_lp_workers``). Kept apart, neither of those
imports the other's module for it.
"""

from __future__ import annotations

import pandas as pd
from influxdb_client import WritePrecision
from influxdb_client.client.write.dataframe_serializer import DataframeSerializer
from influxdb_client.client.write_api import PointSettings


def line_protocol(frame: pd.DataFrame, measurement: str, tag: str | None, precision: str = "s"
                  ) -> tuple[bytes, int]:
    """One write body from influxdb-client's ``DataframeSerializer``: (bytes, number of lines).

    Escaping is the serializer's job (a tag value cannot inject points).
    """
    serializer = DataframeSerializer(
        frame, PointSettings(), WritePrecision.S if precision == "s" else WritePrecision.NS,
        data_frame_measurement_name=measurement,
        data_frame_tag_columns=[tag] if tag else [],
    )
    lines = serializer.serialize()
    return "\n".join(lines).encode(), len(lines)
