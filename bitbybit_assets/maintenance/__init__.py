"""Weekly housekeeping: compact and vacuum every Delta table, prune raw bytes and caches past their
age, keep the warehouse's old rows in check and its statistics fresh (``operations.maintenance``).

:mod:`.delta` and :mod:`.warehouse` are plain functions (no Dagster); :mod:`.job` is the thin op
job and its schedule.
"""
