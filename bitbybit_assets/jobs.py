"""Jobs over the asset graph."""

import dagster as dg

from bitbybit_assets.partitions import daily_partitions

DAILY_JOB_NAME = "daily_pipeline"


def daily_pipeline_job():
    """Every daily-partitioned asset, from raw_feeds to the warehouse, for one day or a range."""
    return dg.define_asset_job(
        DAILY_JOB_NAME,
        selection=dg.AssetSelection.all(),
        partitions_def=daily_partitions,
        description="Fetch, filter, score, enhance, render and export one day (or a range in one run).",
    )
