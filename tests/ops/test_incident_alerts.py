"""Incident alerts (sensors/incident_alerts.py) against a real temp lakehouse and the local
receivers of the failure alerts (webhook server, moto SNS): each incident is sent once, with the
day and a link; only the newest expected day counts; a failed send is retried on the next tick."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl
import pytest
import yaml

from bitbybit_assets.schemas import LLM_CALLS, conform
from bitbybit_base.settings import PROJECT_ROOT
from resources.lakehouse import Lakehouse
from resources.notify import Notifier
from sensors import incidents as rules
from sensors.incident_alerts import build_incident_sensor
from tests.ops.frames import D2, newsletter_day, raw_feeds_day
from tests.ops.receivers import sns_topic, webhook_server

UI = "https://dagster.example.com"
AFTER_DEADLINE = datetime(2026, 8, 7, 10, 0, tzinfo=UTC)  # D2's deadline: 09:00 on Aug 7 (UTC)


def llm_calls(day: date, run_id: str, costs: list[float], skipped: int = 0) -> pl.DataFrame:
    n = len(costs) + skipped
    return conform(pl.DataFrame({
        "partition_date": [day] * n, "run_id": [run_id] * n, "call_id": [f"{run_id}-{i}" for i in range(n)],
        "cost_usd": [*costs, *([0.0] * skipped)], "status": ["ok"] * len(costs) + ["budget_skipped"] * skipped,
    }), LLM_CALLS)


@pytest.fixture
def alert_env(isolated_env, monkeypatch):
    """A temp lakehouse with three days of raw_feeds where one feed fails every day (and 4 of 10 on
    the newest day), a newsletter for D2-1 but none for D2, and a run that used 90% of its LLM
    budget; settings with the UI link set."""
    cfg = yaml.safe_load((PROJECT_ROOT / "config" / "production.yaml").read_text())
    cfg["operations"]["alerts"].update(ui_url=UI, feed_failure_days=3, max_warning_checks=0, llm_budget_share=0.8)
    cfg["llm"]["budget_usd_per_run"] = 1.0
    path = isolated_env / "production.yaml"
    path.write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("BITBYBIT_SETTINGS_FILE", str(path))
    lh = Lakehouse()
    for back in (2, 1, 0):
        day = D2 - timedelta(days=back)
        lh.write_days("raw_feeds", raw_feeds_day(day, ok=10, errors=4 if back == 0 else 1), day, day)
    prev = D2 - timedelta(days=1)
    lh.write_days("newsletters", newsletter_day(prev), prev, prev)
    lh.append_rows("llm_calls", llm_calls(D2, "run-hot", [0.5, 0.4], skipped=2))
    lh.append_rows("llm_calls", llm_calls(D2, "run-cool", [0.1]))
    return lh


def _tick(lh: Lakehouse, notifier: Notifier, cursor: str | None = None, now: datetime = AFTER_DEADLINE):
    sensor = build_incident_sensor(interval_seconds=600, clock=lambda: now)
    context = dg.build_sensor_context(cursor=cursor, resources={"lakehouse": lh, "notifier": notifier})
    result = sensor(context)
    return result, context.cursor


def test_each_incident_is_sent_once_with_the_day_and_a_link(alert_env, monkeypatch):
    with webhook_server() as hook:
        monkeypatch.setenv("BITBYBIT_ALERT_WEBHOOK_URL", hook.url)
        notifier = Notifier(channel="webhook")
        result, cursor = _tick(alert_env, notifier)
        texts = [p["text"] for p in hook.received]
        assert "4 incident(s), 4 alert(s) sent" in result.skip_message
        by_kind = {k: [t for t in texts if k in t] for k in
                   ("newsletter late", "warning checks failed", "feed failing", "LLM budget")}
        assert all(len(v) == 1 for v in by_kind.values()), texts
        for text in texts:
            assert f"Day: {D2}" in text and f"Link: {UI}/" in text
        assert f"Link: {UI}/assets/newsletters?partition={D2}" in by_kind["newsletter late"][0]
        assert "feed-9 failed to fetch on 3 days in a row (since 2026-08-04)" in by_kind["feed failing"][0]
        assert "raw_feeds:failed_feed_share" in by_kind["warning checks failed"][0]
        assert "run-hot spent $0.9000 of its $1.00" in by_kind["LLM budget"][0]
        assert "2 LLM call(s) were skipped" in by_kind["LLM budget"][0]
        assert "run-cool" not in "".join(texts)

        # the next tick (and one after a restart, from the stored cursor) sends nothing again
        result, cursor2 = _tick(alert_env, notifier, cursor)
        assert len(hook.received) == 4 and "0 alert(s) sent" in result.skip_message
        assert set(json.loads(cursor2)["sent"]) == set(json.loads(cursor)["sent"])

        # the newsletter arrives after its deadline: nothing new is sent (the incident was reported)
        alert_env.write_days("newsletters", newsletter_day(D2), D2, D2)
        _tick(alert_env, notifier, cursor2)
        assert len(hook.received) == 4


def test_only_the_newest_expected_day_is_judged(alert_env, monkeypatch):
    """Before D2's deadline the newest expected day is D2-1, which has its newsletter; the days
    before it (no newsletters at all) never alert."""
    with webhook_server() as hook:
        monkeypatch.setenv("BITBYBIT_ALERT_WEBHOOK_URL", hook.url)
        _tick(alert_env, Notifier(channel="webhook"), now=datetime(2026, 8, 7, 8, 59, tzinfo=UTC))
    assert not [p for p in hook.received if "newsletter late" in p["text"]]


def test_a_failed_send_is_retried_on_the_next_tick(alert_env, monkeypatch):
    with webhook_server(statuses=[400]) as hook:
        monkeypatch.setenv("BITBYBIT_ALERT_WEBHOOK_URL", hook.url)
        result, cursor = _tick(alert_env, Notifier(channel="webhook", max_attempts=1))
        assert "4 not delivered" in result.skip_message
        assert json.loads(cursor)["sent"] == {}
    with webhook_server() as hook:
        monkeypatch.setenv("BITBYBIT_ALERT_WEBHOOK_URL", hook.url)
        _tick(alert_env, Notifier(channel="webhook"), cursor)
        assert len(hook.received) == 4


def test_late_newsletter_via_sns(alert_env, monkeypatch):
    with sns_topic(monkeypatch) as topic:
        monkeypatch.setenv("BITBYBIT_ALERT_SNS_TOPIC_ARN", topic.topic_arn)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", topic.endpoint)
        _tick(alert_env, Notifier(channel="sns"))
        notes = topic.messages()
    late = [n for n in notes if "newsletter late" in n["Subject"]]
    assert len(late) == 1 and late[0]["Subject"].endswith(f"newsletter late: {D2}")
    assert f"{UI}/assets/newsletters?partition={D2}" in late[0]["Message"]


# ---------------------------------------------------------------- the pure rules


def test_newest_expected_day_follows_the_deadline_in_the_schedule_timezone():
    assert rules.newest_expected_day(datetime(2026, 8, 7, 9, 0, tzinfo=UTC), 9, "UTC") == date(2026, 8, 6)
    assert rules.newest_expected_day(datetime(2026, 8, 7, 8, 59, tzinfo=UTC), 9, "UTC") == date(2026, 8, 5)
    # 06:30 UTC is 08:30 in Berlin (summer): before a 09:00 local deadline
    assert rules.newest_expected_day(datetime(2026, 8, 7, 6, 30, tzinfo=UTC), 9, "Europe/Berlin") == date(2026, 8, 5)


def test_failing_feed_streak_is_keyed_by_its_first_day():
    days = [date(2026, 8, d) for d in range(1, 8)]
    status = ["error", "ok", "error", "error", "error", "error", "error"]
    frame = pl.DataFrame({"partition_date": days, "feed_name": ["f"] * 7, "fetch_status": status})
    (incident,) = rules.failing_feeds(frame, date(2026, 8, 7), 3, None)
    assert incident.key == "feed_failing:f:2026-08-03" and "5 days in a row" in incident.body
    assert "Link:" not in incident.body  # no ui_url: no link line
    # the same streak a day later is the same incident; a gap (no row) ends a streak
    assert rules.failing_feeds(frame, date(2026, 8, 6), 3, None)[0].key == incident.key
    gap = frame.filter(pl.col("partition_date") != date(2026, 8, 6))
    assert rules.failing_feeds(gap, date(2026, 8, 7), 3, None) == []


def test_cursor_forgets_old_incidents_and_survives_garbage():
    sent = {"newsletter_late:2026-01-01": "2026-01-01", "newsletter_late:2026-08-06": "2026-08-06"}
    assert rules.read_cursor(rules.write_cursor(sent, date(2026, 8, 7))) == {
        "newsletter_late:2026-08-06": "2026-08-06"}
    assert rules.read_cursor("not json") == {} and rules.read_cursor(None) == {}
