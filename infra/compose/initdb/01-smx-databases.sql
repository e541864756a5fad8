-- Runs once, on the first start of an empty PostgreSQL volume (docker-entrypoint-initdb.d).
-- One database per concern, so each can be backed up, restored and migrated on its own.
CREATE DATABASE smx_dagster;
CREATE DATABASE smx_herd;
CREATE DATABASE smx_mlflow;
