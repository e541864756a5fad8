"""Time-series stores for bolus and climate readings (SQL and InfluxDB)."""
