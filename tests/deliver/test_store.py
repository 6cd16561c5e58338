"""The delivery tables on DuckDB and PostgreSQL: subscribers, approvals, editions, ledger claims."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bitbybit_assets.deliver.records import DeliveryStateError
from tests.deliver.conftest import DAY


def test_subscribers_statuses_and_audit(store):
    ann, created = store.add_subscriber("ann@example.com", "Ann", source="cli", actor="t")
    assert created and ann.status == "active" and ann.confirmed_at is not None and len(ann.secret) >= 24
    again, created = store.add_subscriber("ann@example.com", "Other", source="cli", actor="t")
    assert not created and again.id == ann.id and again.name == "Ann"
    assert store.unsubscribe(ann.id, actor="t")
    assert not store.unsubscribe(ann.id, actor="t")  # idempotent
    # a re-add or an import never revives an unsubscribed reader
    assert store.add_subscriber("ann@example.com", None, source="cli", actor="t")[0].status == "unsubscribed"
    out = store.import_subscribers([("ann@example.com", None), ("bob@example.com", "Bob")], source="import", actor="t")
    assert out.added == ["bob@example.com"] and out.already_present == {"ann@example.com": "unsubscribed"}
    pending, _ = store.add_subscriber("cy@example.com", None, source="cli", actor="t", pending=True)
    assert pending.status == "pending"
    assert store.confirm(pending.id, actor="link") and store.subscriber(pending.id).status == "active"
    assert not store.confirm(ann.id, actor="link")  # confirming never revives a suppressed reader
    assert store.counts_by_status() == {"pending": 0, "active": 2, "unsubscribed": 1, "bounced": 0, "complained": 0}
    assert store.suppress_email("bob@example.com", "complained", actor="ses", detail="abuse")
    assert not store.suppress_email("bob@example.com", "bounced", actor="ses", detail="x")  # complaint wins
    events = store.w.query("SELECT event FROM subscriber_events ORDER BY created_at")
    assert [e["event"] for e in events].count("added") == 3
    old = store.subscriber(ann.id).secret
    store.rotate_secret(ann.id, actor="t")
    assert store.subscriber(ann.id).secret != old


def test_import_is_all_or_nothing(store):
    store.add_subscriber("ann@example.com", None, source="cli", actor="t")
    with pytest.raises(Exception), store.w.transaction():  # noqa: B017 - duplicate key refused
        store._insert_subscriber("new@example.com", None, "active", "import", "t")
        store._insert_subscriber("ann@example.com", None, "active", "import", "t")
    assert store.subscriber_by_email("new@example.com") is None


def test_approval_covers_exact_content_and_can_be_revoked(store):
    a = store.approve(DAY, newsletter_id="n1", content_sha256="c1", actor="editor", mode="manual")
    assert (a.status, a.approved_by, a.content_sha256) == ("approved", "editor", "c1")
    assert store.revoke_approval(DAY, actor="editor") and store.approval(DAY).status == "draft"
    assert not store.revoke_approval(DAY, actor="editor")
    store.approve(DAY, newsletter_id="n1", content_sha256="c2", actor="chief", mode="manual")
    assert [h["action"] for h in store.approval_history(DAY)] == ["approved", "revoked", "approved"]


def test_claims_are_exclusive_and_changed_content_needs_a_recorded_resend(store):
    subs = [store.add_subscriber(f"r{i}@example.com", None, source="cli", actor="t")[0] for i in range(3)]
    ed = store.edition_for(DAY, content_sha256="c1", newsletter_id="n", actor="t")
    assert ed == 1 and store.enqueue(DAY, ed) == 3 and store.enqueue(DAY, ed) == 0
    row = store.claim(DAY, ed, subs[0].id, claimed_by="run-a", message_id="<1@x>")
    assert row is not None and row.attempts == 1
    assert store.claim(DAY, ed, subs[0].id, claimed_by="run-b", message_id="<2@x>") is None
    store.mark_sent(row, "Q1")
    assert store.claim(DAY, ed, subs[0].id, claimed_by="run-b", message_id="<3@x>") is None
    # new content before anything else went out continues the edition only while nothing was sent
    with pytest.raises(DeliveryStateError, match="changed after edition 1 went out to 1 reader"):
        store.edition_for(DAY, content_sha256="c2", newsletter_id="n", actor="t")
    with pytest.raises(DeliveryStateError, match="needs a reason"):
        store.edition_for(DAY, content_sha256="c2", newsletter_id="n", actor="t", resend=True)
    assert store.edition_for(DAY, content_sha256="c2", newsletter_id="n", actor="ed", resend=True,
                             reason="typo in the lead") == 2
    assert [e["requested_by"] for e in store.editions(DAY)] == ["t", "ed"]
    # unsubscribed readers' open rows are suppressed and can no longer be claimed
    store.unsubscribe(subs[1].id, actor="t")
    assert store.claim(DAY, 1, subs[1].id, claimed_by="run-a", message_id="<4@x>") is None
    assert store.suppress_inactive(DAY, 1) == 1
    # a claim left by a dead run is in doubt, and only an explicit release re-queues it
    stuck = store.claim(DAY, 1, subs[2].id, claimed_by="dead-run", message_id="<5@x>")
    assert stuck is not None
    assert [r.email for r in store.in_doubt(DAY, 1, older_than=timedelta(0))] == ["r2@example.com"]
    assert store.open_rows(DAY, 1) == []
    assert store.release_in_doubt(DAY, 1, older_than=timedelta(0), actor="ops") == 1
    assert [r.email for r in store.open_rows(DAY, 1)] == ["r2@example.com"]
    assert store.ledger_counts(DAY, 1) == {"pending": 1, "sending": 0, "sent": 1, "deferred": 0,
                                           "failed": 0, "suppressed": 1}
