"""The delivery sensor's decision: which day to launch, once per approval, hourly while deferred."""

from __future__ import annotations

from datetime import UTC, datetime

from bitbybit_base.settings import DeliverySettings
from sensors.delivery import delivery_run_key
from tests.deliver.conftest import DAY

NOW = datetime(2026, 8, 6, 9, 30, tzinfo=UTC)


def test_manual_launches_only_after_approval_and_until_complete(store):
    manual = DeliverySettings(approval="manual")
    ann = store.add_subscriber("ann@example.com", None, source="t", actor="t")[0]
    assert delivery_run_key(store, DAY, manual, NOW) is None  # draft
    store.approve(DAY, newsletter_id="n", content_sha256="c1" * 32, actor="ed", mode="manual")
    key = delivery_run_key(store, DAY, manual, NOW)
    assert key and key.startswith(f"deliver:{DAY}:c1c1")
    assert delivery_run_key(store, DAY, manual, NOW) == key  # same decision, same key: launched once
    ed = store.edition_for(DAY, content_sha256="c1" * 32, newsletter_id="n", actor="t")
    store.enqueue(DAY, ed)
    row = store.claim(DAY, ed, ann.id, claimed_by="r", message_id="<m>")
    store.mark_deferred(row, "451 greylisted")
    retry = delivery_run_key(store, DAY, manual, NOW)
    assert retry.endswith(":retry:2026080609") and retry != key
    row = store.claim(DAY, ed, ann.id, claimed_by="r", message_id="<m>")
    store.mark_sent(row, "Q1")
    assert delivery_run_key(store, DAY, manual, NOW) is None  # done


def test_auto_launches_at_the_send_time(store):
    auto = DeliverySettings(approval="auto", send_time="09:00")
    assert delivery_run_key(store, DAY, auto, datetime(2026, 8, 6, 8, 59, tzinfo=UTC)) is None
    assert delivery_run_key(store, DAY, auto, datetime(2026, 8, 6, 9, 0, tzinfo=UTC)) == f"deliver:{DAY}:auto"


def test_due_requests_name_the_partition(store):
    import dagster as dg

    from sensors.delivery import due_requests

    manual = DeliverySettings(approval="manual")
    store.approve(DAY, newsletter_id="n", content_sha256="ab" * 32, actor="ed", mode="manual")
    with dg.DagsterInstance.ephemeral() as instance:
        (req,) = due_requests(store, [DAY], manual, NOW, instance)
    assert req.partition_key == DAY.isoformat() and req.tags["bitbybit/trigger"] == "delivery_sensor"
