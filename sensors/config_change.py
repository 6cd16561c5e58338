"""Watch the feed list (``config/feeds.yaml``, or the ``feeds`` table with
``BITBYBIT_FEEDS_SOURCE=database``: see :mod:`bitbybit_assets.feeds_store`) and report what changed.

The cursor holds the sha256 of the effective feed list (every feed's name, url, enabled, category
and trust as ``feeds_store.load_feeds`` returns them, so a desk edit counts and a YAML comment does not)
and the feeds it listed, so a restart of the daemon (or of
``dagster dev``) compares against the last version seen, not against nothing. The first evaluation
only records that baseline. On a change the sensor:

* logs and records an ``AssetObservation`` on ``raw_feeds`` listing the added, removed, enabled,
  disabled and edited feeds (visible in the asset's event history), and for each new or
  re-enabled feed the days the archive holds for it (those days can now be backfilled: a
  ``raw_feeds`` partition re-materialised includes the feed);
* with ``operations.config_change.on_new_feed: request_raw_feeds`` and a feed added or re-enabled,
  also requests ``raw_feeds`` for the latest complete day, tagged ``bitbybit/trigger=feeds_config_change``
  (run key: the list's hash, so one run per version of the list).

A file that no longer parses fails the tick with the validation error (the cursor keeps the last
good version, so the diff is reported once the file is fixed).
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import dagster as dg

from bitbybit_assets.feeds_store import feeds_source, load_feeds
from bitbybit_assets.partitions import daily_partitions, last_complete_day
from bitbybit_base import settings

SENSOR_NAME = "feeds_config_change"
TRIGGER_TAG = "bitbybit/trigger"


def watched_file() -> Path | None:
    """The YAML file the list comes from, or None when it comes from the database."""
    return None if feeds_source() == "database" else settings.feeds_file()


def snapshot(path: Path | None) -> dict[str, Any]:
    """``{"sha256": ..., "feeds": {name: {url, enabled, category, trust}}}`` of the effective feed list
    (``path``: the YAML file; None: the database list)."""
    feeds = load_feeds(path, enabled_only=False)
    listing = {
        f.name: {"url": f.url, "enabled": f.enabled, "category": f.category, "trust": f.trust}
        for f in sorted(feeds, key=lambda f: f.name)
    }
    digest = hashlib.sha256(json.dumps(listing, sort_keys=True).encode("utf-8")).hexdigest()
    return {"sha256": digest, "feeds": listing}


def _what(path: Path | None) -> str:
    return "feeds.yaml" if path is not None else "feed list (database)"


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
    return "; ".join(f"{k}: {', '.join(v)}" for k, v in changes.items() if v) or "no feed changed (cursor from an older version of the sensor)"


def evaluate_change(cursor: str | None, path: Path | None, mode: str) -> tuple[str, dg.SensorResult | dg.SkipReason]:
    """(new cursor, what to return) for one evaluation; pure apart from reading the files."""
    current = snapshot(path)
    if not cursor:
        return json.dumps(current), dg.SkipReason(
            f"baseline recorded: {len(current['feeds'])} feeds, sha256 {current['sha256'][:12]}"
        )
    previous = json.loads(cursor)
    if previous.get("sha256") == current["sha256"]:
        return cursor, dg.SkipReason(f"{_what(path)} unchanged")
    changes = diff_feeds(previous.get("feeds", {}), current["feeds"])
    new_feeds = [*changes["added"], *changes["enabled"]]
    new_feeds = [n for n in new_feeds if current["feeds"][n]["enabled"]]
    available = {n: archive_days(n) for n in new_feeds}
    metadata: dict[str, Any] = {
        "feeds_source": str(path) if path is not None else "database (feeds table)",
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
    last = last_complete_day(daily_partitions(settings.runtime_settings().pipeline.start_date))
    latest = last.isoformat() if last else None
    if mode == "request_raw_feeds" and new_feeds and latest:
        requests.append(dg.RunRequest(
            run_key=f"feeds-config-{current['sha256'][:16]}",
            asset_selection=[dg.AssetKey("raw_feeds")],
            partition_key=latest,
            tags={TRIGGER_TAG: "feeds_config_change", "bitbybit/new_feeds": ",".join(new_feeds)[:200]},
        ))
    observation = dg.AssetObservation(asset_key="raw_feeds", description=f"{_what(path)} changed: {metadata['summary']}",
                                      metadata=metadata)
    return json.dumps(current), dg.SensorResult(run_requests=requests, asset_events=[observation])


def build_config_change_sensor(default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED) -> dg.SensorDefinition:
    interval = settings.runtime_settings().operations.config_change.interval_seconds

    @dg.sensor(
        name=SENSOR_NAME,
        asset_selection=[dg.AssetKey("raw_feeds")],
        minimum_interval_seconds=interval,
        default_status=default_status,
        description="Watches the feed list (config/feeds.yaml or the desk-edited feeds table; hash in the "
        "cursor); records what changed on raw_feeds "
        "and optionally re-materialises raw_feeds for the latest day when a feed is added.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        path = watched_file()
        mode = settings.runtime_settings().operations.config_change.on_new_feed
        new_cursor, result = evaluate_change(context.cursor, path, mode)
        if isinstance(result, dg.SensorResult):
            context.log.info(result.asset_events[0].description)
            return dg.SensorResult(run_requests=result.run_requests, asset_events=result.asset_events, cursor=new_cursor)
        context.update_cursor(new_cursor)
        return result

    return _sensor
