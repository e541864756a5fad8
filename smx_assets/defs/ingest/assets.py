"""The external sources the platform reads but does not produce, declared as asset specs.

Declaring them gives the lineage graph its roots and tells a data engineer in the UI where the
data comes from, who owns it and how it is stored.
"""

from __future__ import annotations

import dagster as dg

GROUP = "sources"
OWNERS = ["team:herd-data"]

bolus_readings = dg.AssetSpec(
    key="bolus_readings",
    group_name=GROUP,
    owners=OWNERS,
    kinds={"influxdb"},
    description=(
        "Bolus readings (reticulorumen temperature, activity index, pH on ~10% of boluses) every "
        "10 minutes per animal, often delivered hours late. Measurement `bolus` in InfluxDB "
        "(tag animal_id) in production; a SQL table in the embedded default. Written only through "
        "ingest validation: rejected readings land in the herd DB's `rejected_readings`."
    ),
    metadata={"store_env_var": "SMX_SENSOR_STORE_URL", "bucket": "10 minutes"},
)

climate_readings = dg.AssetSpec(
    key="climate_readings",
    group_name=GROUP,
    owners=OWNERS,
    kinds={"influxdb"},
    description="Barn and pasture air temperature and relative humidity per climate sensor (THI input).",
    metadata={"store_env_var": "SMX_SENSOR_STORE_URL"},
)

herd_records = dg.AssetSpec(
    key="herd_records",
    group_name=GROUP,
    owners=OWNERS,
    kinds={"sqlalchemy", "postgres"},
    description=(
        "The farm management records: farms, animals, housing periods, calvings/lactations, "
        "inseminations with pregnancy checks, diagnoses/treatments, farmer feedback on alerts. "
        "Records carry `recorded_at` because farmers enter them late; label rules read only these, "
        "never the simulator's ground truth."
    ),
    metadata={"store_env_var": "SMX_HERD_DB_URL"},
)

SOURCE_SPECS = [bolus_readings, climate_readings, herd_records]
