"""Watch ``config/feeds.yaml`` and report what changed.

The cursor holds the file's sha256 and the feeds it listed, so a restart of the daemon (or of
``dagster dev``) compares against the last version seen, not against nothing. The first evaluation
only records that baseline. On a change the sensor:

* logs and records an ``AssetObservation`` on ``raw_feeds`` listing the added, removed, enabled,
  disabled and edited feeds (visible in the asset's event history), and for each new or
  re-enabled feed the days the archive holds for it (those days can now be backfilled: a
  ``raw_feeds`` partition re-materialised includes the feed);
* with ``operations.config_change.on_new_feed: request_raw_feeds`` and a feed added or re-enabled,
  also requests ``raw_feeds`` for the latest complete day, tagged ``bitbybit/trigger=feeds_config_change``
  (run key: the file hash, so one run per version of the file).

A file that no longer parses fails the tick with the validation error (the cursor keeps the last
good version, so the diff is reported once the file is fixed).
"""

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import dagster as dg

from bitbybit_assets import settings
from bitbybit_assets.ops_config import operations_settings
from bitbybit_assets.partitions import daily_partitions

SENSOR_NAME = "feeds_config_change"
TRIGGER_TAG = "bitbybit/trigger"


def feeds_file() -> Path:
    """``BITBYBIT_FEEDS_FILE`` or ``<config dir>/feeds.yaml`` (as ``settings.load_feeds`` reads it)."""
    value = os.environ.get("BITBYBIT_FEEDS_FILE")
    return Path(value).expanduser().resolve() if value else settings.config_dir() / "feeds.yaml"


def snapshot(path: Path) -> dict[str, Any]:
    """``{"sha256": ..., "feeds": {name: {url, enabled, category, trust}}}`` of the feeds file."""
    data = path.read_bytes()
    feeds = settings.load_feeds(path, enabled_only=False)
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "feeds": {f.name: {"url": f.url, "enabled": f.enabled, "category": f.category, "trust": f.trust} for f in feeds},
    }


def diff_feeds(old: dict[str, dict], new: dict[str, dict]) -> dict[str, list[str]]:
    """Names of feeds added, removed, enabled, disabled and otherwise edited between two snapshots."""
    added = sorted(n for n in new if n not in old)
    removed = sorted(n for n in old if n not in new)
    both = [n for n in new if n in old]
    enabled = sorted(n for n in both if new[n]["enabled"] and not old[n]["enabled"])
    disabled = sorted(n for n in both if old[n]["enabled"] and not new[n]["enabled"])
    edited = sorted(
        n for n in both if {k: v for k, v in new[n].items() if k != "enabled"} != {k: v for k, v in old[n].items() if k != "enabled"}
    )
    return {"added": added, "removed": removed, "enabled": enabled, "disabled": disabled, "edited": edited}


def archive_days(feed: str) -> list[str]:
    """Days the feed archive holds a snapshot of ``feed`` (``YYYY-MM-DD/<feed>.xml``)."""
    root = settings.archive_dir()
    if root is None or not root.is_dir():
        return []
    return sorted(p.parent.name for p in root.glob(f"*/{feed}.xml"))


def _describe(changes: dict[str, list[str]]) -> str:
    return "; ".join(f"{k}: {', '.join(v)}" for k, v in changes.items() if v) or "formatting only (no feed changed)"


def evaluate_change(cursor: str | None, path: Path, mode: str) -> tuple[str, dg.SensorResult | dg.SkipReason]:
    """(new cursor, what to return) for one evaluation; pure apart from reading the files."""
    current = snapshot(path)
    if not cursor:
        return json.dumps(current), dg.SkipReason(
            f"baseline recorded: {len(current['feeds'])} feeds, sha256 {current['sha256'][:12]}"
        )
    previous = json.loads(cursor)
    if previous.get("sha256") == current["sha256"]:
        return cursor, dg.SkipReason("feeds.yaml unchanged")
    changes = diff_feeds(previous.get("feeds", {}), current["feeds"])
    new_feeds = [*changes["added"], *changes["enabled"]]
    new_feeds = [n for n in new_feeds if current["feeds"][n]["enabled"]]
    available = {n: archive_days(n) for n in new_feeds}
    metadata: dict[str, Any] = {
        "feeds_file": str(path),
        "sha256": current["sha256"],
        "previous_sha256": previous.get("sha256"),
        "summary": _describe(changes),
        "enabled_feeds": sum(1 for f in current["feeds"].values() if f["enabled"]),
        **{k: ", ".join(v) for k, v in changes.items()},
        "archive_days_for_new_feeds": dg.MetadataValue.json(
            {n: {"days": len(d), "first": d[0] if d else None, "last": d[-1] if d else None} for n, d in available.items()}
        ),
    }
    requests: list[dg.RunRequest] = []
    latest = daily_partitions.get_last_partition_key()
    if mode == "request_raw_feeds" and new_feeds and latest:
        requests.append(dg.RunRequest(
            run_key=f"feeds-config-{current['sha256'][:16]}",
            asset_selection=[dg.AssetKey("raw_feeds")],
            partition_key=latest,
            tags={TRIGGER_TAG: "feeds_config_change", "bitbybit/new_feeds": ",".join(new_feeds)[:200]},
        ))
    observation = dg.AssetObservation(asset_key="raw_feeds", description=f"feeds.yaml changed: {metadata['summary']}",
                                      metadata=metadata)
    return json.dumps(current), dg.SensorResult(run_requests=requests, asset_events=[observation])


def build_config_change_sensor(default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED) -> dg.SensorDefinition:
    interval = operations_settings().config_change.interval_seconds

    @dg.sensor(
        name=SENSOR_NAME,
        asset_selection=[dg.AssetKey("raw_feeds")],
        minimum_interval_seconds=interval,
        default_status=default_status,
        description="Watches config/feeds.yaml (hash in the cursor); records what changed on raw_feeds "
        "and optionally re-materialises raw_feeds for the latest day when a feed is added.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        path = feeds_file()
        mode = operations_settings().config_change.on_new_feed
        new_cursor, result = evaluate_change(context.cursor, path, mode)
        if isinstance(result, dg.SensorResult):
            context.log.info(f"feeds.yaml changed: {result.asset_events[0].description}")
            return dg.SensorResult(run_requests=result.run_requests, asset_events=result.asset_events, cursor=new_cursor)
        context.update_cursor(new_cursor)
        return result

    return _sensor
