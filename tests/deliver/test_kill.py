"""A sending process killed with SIGKILL halfway through 1,000 recipients: the re-run completes the
rest, nobody receives the issue twice, and the ledger matches what the SMTP server accepted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

from tests.deliver.conftest import DAY, pg_store

SCRIPT = """
import sys
from datetime import timedelta
from bitbybit_assets.deliver.send import SendOptions, deliver
from resources.email import EmailSender
from tests.deliver.conftest import SECRET, newsletter, pg_store
SERVER_KEY = SECRET.encode()
dsn, url, run_id = sys.argv[1:4]
store = pg_store(dsn)
options = SendOptions(mail_from="news@bitbybit.test", public_url="https://d.test", list_id="l.test",
                      server_key=SERVER_KEY, retry_backoff_seconds=0, claim_timeout=timedelta(0))
sender = EmailSender(transport="smtp", smtp_url=url, mail_from="news@bitbybit.test", rate_per_second=1000)
report = deliver(store, newsletter(), sender.session(), options, run_id=run_id, actor="t")
print("SENT", report.sent, "IN_DOUBT", len(report.in_doubt), flush=True)
"""


def _run(dsn, sink, run_id) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, dsn, sink.url, run_id], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_halfway_then_rerun(pg_dsn, sink):
    n = 1000
    store = pg_store(pg_dsn)
    store.import_subscribers([(f"r{i:04d}@example.com", None) for i in range(n)], source="test", actor="t")
    first = _run(pg_dsn, sink, "run-killed")
    deadline = time.monotonic() + 120
    while len(sink.messages) < n // 3 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    received_before = len(sink.messages)
    assert 0 < received_before < n, "the kill must land halfway"
    second = _run(pg_dsn, sink, "run-2")
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    recipients = sink.recipients()
    assert len(recipients) == len(set(recipients)), "somebody received the issue twice"
    counts = store.ledger_counts(DAY)
    in_doubt = store.in_doubt(DAY, 1, older_than=timedelta(0))
    assert counts["sent"] + counts["sending"] == n and counts["pending"] == 0 and len(in_doubt) <= 1
    sent = {r.email for r in store.ledger(DAY) if r.status == "sent"}
    assert sent <= set(recipients)  # every row marked sent was accepted by the server
    assert set(recipients) - sent <= {r.email for r in in_doubt}  # at most the in-flight one is unrecorded
    store.w.close()
