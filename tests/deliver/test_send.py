"""Sending through a real SMTP server (aiosmtpd): every active reader exactly once, crashes, retries,
concurrent runs, suppression, per-recipient links."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from bitbybit_assets.deliver import tokens
from bitbybit_assets.deliver.send import SendOptions, deliver
from bitbybit_assets.deliver.store import DeliveryStore
from resources.email import EmailSender
from tests.deliver.conftest import DAY, SECRET, newsletter, pg_store

OPTIONS = SendOptions(mail_from="bitbybit <news@bitbybit.test>", public_url="https://desk.bitbybit.test",
                      list_id="bitbybit.newsletter", server_key=SECRET.encode(), max_attempts=3,
                      retry_backoff_seconds=0.0, batch_size=4, claim_timeout=timedelta(0))


def sender(sink, **kw) -> EmailSender:
    return EmailSender(transport="smtp", smtp_url=sink.url, mail_from=OPTIONS.mail_from,
                       rate_per_second=1000, batch_size=4, **kw)


def add(store: DeliveryStore, n: int, prefix: str = "reader") -> list:
    return [store.add_subscriber(f"{prefix}{i:03d}@example.com", f"Reader {i}", source="test", actor="t")[0]
            for i in range(n)]


def run(store, sink, **kw):
    return deliver(store, newsletter(), sender(sink).session(), OPTIONS, run_id=kw.pop("run_id", "run-1"),
                   actor="test", sleep=lambda s: None, **kw)


def test_every_reader_gets_one_message_with_their_own_link(store, sink):
    subs = add(store, 6)
    report = run(store, sink)
    assert (report.sent, report.failed, report.complete) == (6, 0, True)
    assert sorted(sink.recipients()) == sorted(s.email for s in subs)
    assert sink.connections == 2  # batch_size 4: one reconnect
    by_id = {s.id: s for s in subs}
    for rcpt, msg in sink.messages:
        url = msg["List-Unsubscribe"].strip("<>")
        token = url.rsplit("/", 1)[1]
        sub = by_id[str(tokens.subscriber_of(token))]
        assert sub.email == rcpt
        assert tokens.verify(SECRET.encode(), "unsubscribe", token, sub.secret)
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["To"].addresses[0].addr_spec == rcpt
        html = msg.get_body(("html",)).get_content()
        assert f'href="{url}"' in html and url in msg.get_body(("plain",)).get_content()
    ledger = store.ledger(DAY)
    assert {r.status for r in ledger} == {"sent"}
    assert all(r.provider_message_id.startswith("Q") and r.message_id for r in ledger)
    # re-running (re-materialising the partition) sends to nobody again
    again = run(store, sink, run_id="run-2")
    assert again.sent == 0 and len(sink.messages) == 6


def test_suppressed_readers_receive_nothing(store, sink):
    subs = add(store, 5)
    store.unsubscribe(subs[0].id, actor="t")
    store.suppress_email(subs[1].email, "bounced", actor="t", detail="x")
    store.suppress_email(subs[2].email, "complained", actor="t", detail="x")
    store.add_subscriber("pending@example.com", None, source="t", actor="t", pending=True)
    report = run(store, sink)
    assert report.sent == 2 and sorted(sink.recipients()) == [subs[3].email, subs[4].email]
    # someone leaving between two runs is suppressed, not sent
    store.revoke_approval(DAY, actor="t")
    assert store.ledger_counts(DAY)["suppressed"] == 0  # never enqueued: only active readers are


def test_crash_after_k_recipients_then_rerun_sends_the_rest_exactly_once(store, sink):
    n, k = 10, 4
    add(store, n)

    class Crash(BaseException):
        pass

    real_claim = store.claim
    calls = {"n": 0}

    def crashing_claim(*a, **kw):
        calls["n"] += 1
        if calls["n"] > k:
            raise Crash("process killed")
        return real_claim(*a, **kw)

    store.claim = crashing_claim
    with pytest.raises(Crash):
        run(store, sink)
    assert len(sink.messages) == k
    store.claim = real_claim
    report = run(store, sink, run_id="run-2")
    assert report.sent == n - k and report.in_doubt == []
    assert len(sink.messages) == n and len(set(sink.recipients())) == n


def test_crash_while_handing_over_leaves_that_reader_in_doubt_not_duplicated(store, sink):
    add(store, 5)
    mail_sender = sender(sink)

    class Killed(BaseException):
        pass

    class DyingSession:
        def __init__(self):
            self.inner = mail_sender.session()
            self.count = 0

        def __enter__(self):
            self.mail = self.inner.__enter__()
            return self

        def __exit__(self, *exc):
            return self.inner.__exit__(*exc)

        def send(self, msg, rcpt):
            self.count += 1
            result = self.mail.send(msg, rcpt)
            if self.count == 3:
                raise Killed("SIGKILL after the server accepted the third message")
            return result

    with pytest.raises(Killed):
        deliver(store, newsletter(), DyingSession(), OPTIONS, run_id="run-1", actor="t", sleep=lambda s: None)
    report = run(store, sink, run_id="run-2")
    assert report.sent == 2 and len(report.in_doubt) == 1
    assert len(sink.messages) == 5 and len(set(sink.recipients())) == 5  # the in-doubt one got exactly one
    # the operator's explicit release re-sends it (documented: they may get it twice)
    store.release_in_doubt(DAY, 1, older_than=timedelta(0), actor="ops")
    assert run(store, sink, run_id="run-3").sent == 1 and len(sink.messages) == 6


def test_permanent_failure_bounces_temporary_is_retried(store, sink):
    subs = add(store, 4)
    sink.rcpt_codes[subs[1].email] = "550 5.1.1 no such user"
    sink.rcpt_codes[subs[2].email] = "451 4.7.1 greylisted, try later"
    report = run(store, sink)
    assert report.sent == 2 and report.failed == 1 and report.bounced == [subs[1].email]
    assert store.subscriber(subs[1].id).status == "bounced"
    assert report.deferred == 3  # greylisted on every one of max_attempts rounds
    row = {r.email: r for r in store.ledger(DAY)}[subs[2].email]
    assert row.status == "deferred" and row.attempts == 3 and "451" in row.error
    assert not report.complete
    # the greylisting ends: a later run (the sensor retries hourly) delivers it
    del sink.rcpt_codes[subs[2].email]
    assert run(store, sink, run_id="run-2").sent == 1
    assert {r.email: r.attempts for r in store.ledger(DAY)}[subs[2].email] == 4
    assert sorted(sink.recipients()) == sorted([subs[0].email, subs[2].email, subs[3].email])


def test_connection_dropped_mid_batch_is_retried_without_duplicates(store, sink):
    add(store, 6)
    sink.drop_after = 2
    report = run(store, sink)
    assert report.sent == 6 and report.complete
    assert len(sink.messages) == 6 and len(set(sink.recipients())) == 6


def test_transport_down_stops_the_run_and_loses_nothing(store, sink):
    add(store, 3)
    dead = EmailSender(transport="smtp", smtp_url="smtp://127.0.0.1:1", mail_from=OPTIONS.mail_from)
    report = deliver(store, newsletter(), dead.session(), OPTIONS, run_id="r", actor="t", sleep=lambda s: None)
    assert report.sent == 0 and report.stopped and "transport failed" in report.stopped
    assert store.ledger_counts(DAY)["pending"] == 3 and all(r.attempts == 0 for r in store.ledger(DAY))
    assert run(store, sink, run_id="run-2").sent == 3


def test_revoking_the_approval_stops_before_the_next_batch(store, sink):
    add(store, 8)
    calls = {"n": 0}

    def still_approved():
        calls["n"] += 1
        return calls["n"] == 1  # revoked after the first batch

    report = run(store, sink, still_approved=still_approved)
    assert report.sent == 4 and "revoked" in report.stopped


def test_two_concurrent_runs_deliver_each_reader_once(pg_dsn, sink):
    setup = pg_store(pg_dsn)
    add(setup, 40)
    results = []

    def worker(name):
        s = pg_store(pg_dsn)
        try:
            results.append(run(s, sink, run_id=name))
        finally:
            s.w.close()

    threads = [threading.Thread(target=worker, args=(f"run-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r.sent for r in results) == 40
    assert len(sink.messages) == 40 and len(set(sink.recipients())) == 40
    assert setup.ledger_counts(DAY)["sent"] == 40
    setup.w.close()
