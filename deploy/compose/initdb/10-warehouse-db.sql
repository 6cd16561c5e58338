-- The compose Postgres holds two databases: `dagster` (the instance: runs, events, schedules;
-- POSTGRES_DB creates it) and `bitbybit` (the warehouse dbt builds). Runs once, on an empty volume.
CREATE DATABASE bitbybit;
