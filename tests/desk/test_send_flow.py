"""Send from the desk for real: the deliver_newsletter job runs in a detached ``bitbybit send``
process against the same Dagster home and PostgreSQL, and the desk follows it to the end."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bitbybit_base.settings import secret_key
from desk.app import DeskState, create_app
from desk.db import open_desk
from desk.launcher import SubprocessLauncher
from resources.postgres import PostgresResource
from tests.deliver.conftest import DAY
from tests.desk.conftest import add_user, client_for, login, page_token, write_newsletter

pytestmark = [pytest.mark.integration, pytest.mark.slow]
D = DAY.isoformat()


def test_send_launches_a_real_run_and_the_ledger_reaches_every_subscriber(pg_delivery_env, dagster_home, sink,
                                                                          tmp_path, monkeypatch):
    # the delivery tables are in PostgreSQL: the job's dbt model over the ledger runs there too
    monkeypatch.setenv("BITBYBIT_DBT_TARGET", "prod")
    write_newsletter()
    launcher = SubprocessLauncher(tmp_path / "launches")
    app = create_app(DeskState(postgres=PostgresResource(), server_key=secret_key(), launcher=launcher))
    add_user("ann")
    with open_desk(PostgresResource()) as db:
        for email in ("a@example.com", "b@example.com"):
            db.store.add_subscriber(email, None, source="test", actor="test")
    client = client_for(app)
    assert login(client, "ann").status_code == 303
    token = page_token(client)
    client.post(f"/days/{D}/approve", data={"force": "yes", "csrf_token": token})
    r = client.post(f"/days/{D}/send", data={"confirm": "yes", "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    with open_desk(PostgresResource()) as db:
        (launch,) = db.launches.recent(5)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = client.get(f"/runs/{launch.run_id}/status").text
        if "hx-trigger" not in status:
            break
        time.sleep(1)
    log = Path(launch.log_path).read_text()
    assert "succeeded" in status, status + log
    assert sorted(sink.recipients()) == ["a@example.com", "b@example.com"]
    ledger = client.get(f"/days/{D}/ledger").text
    assert 'id="ledger-sent">2<' in ledger and "hx-trigger" not in ledger
    with open_desk(PostgresResource()) as db:
        assert {r.status for r in db.store.ledger(DAY)} == {"sent"}
    for _ in range(60):  # the process exits once Dagster has cleaned up after the run
        if launcher.exit_code(launch.run_id) is not None:
            break
        time.sleep(0.5)
    assert launcher.exit_code(launch.run_id) == 0
