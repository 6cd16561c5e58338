"""Every desk page and form over HTTP: Today (with a real Dagster instance), re-run, run status,
preview (sandboxed newsletter, approve/revoke, test send, send), subscribers, users."""

from __future__ import annotations

import re

import dagster as dg
import pytest

from desk.db import open_desk
from resources.postgres import PostgresResource
from tests.deliver.conftest import DAY
from tests.desk.conftest import client_for, login, page_token, write_newsletter

D = DAY.isoformat()


def _post(client, path: str, **data):
    return client.post(path, data={**data, "csrf_token": page_token(client)}, follow_redirects=False)


def _flash(client, path: str) -> str:
    return " ".join(re.findall(r'class="flash[^"]*" role="status">([^<]*)<', client.get(path).text))


def _store():
    return open_desk(PostgresResource())


# ---------------------------------------------------------------- Today


def _job(name: str, fail: bool = False) -> dg.JobDefinition:
    @dg.op(name="step")
    def step():
        if fail:
            raise RuntimeError("feed archive unreachable")

    @dg.job(name=name)
    def job():
        step()

    return job


def test_today_shows_partitions_runs_freshness_approval_and_deliveries(admin, dagster_home):
    instance = dg.DagsterInstance.get()
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="raw_feeds", partition=D))
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="newsletters", partition=D))
    _job("daily_pipeline", fail=True).execute_in_process(instance=instance, raise_on_error=False,
                                                        tags={"dagster/partition": D})
    with _store() as db:
        db.store.approve(DAY, newsletter_id="n", content_sha256="abc", actor="desk:ann", mode="manual")
    page = admin.get(f"/?end={D}")
    assert page.status_code == 200
    row = page.text.split(f'id="day-{D}"')[1].split("</tr>")[0]
    assert 'class="cell materialized" title="raw_feeds: materialized at' in row
    assert 'class="cell missing" title="feed_entries: missing"' in row
    assert "failure" in row and "step: RuntimeError: feed archive unreachable" in row
    assert "late</span>" in row and "deadline 08-06 09:00 UTC" in row  # materialised now, months after
    assert "approved" in row and "desk:ann" in row
    assert 'id="next-run"' in page.text and "cron <code>30 6 * * *</code>" in page.text
    # the seven days before it, newest first
    days = re.findall(r'<tr id="day-(\d{4}-\d{2}-\d{2})"', page.text)
    assert days[0] == D and len(days) == 7


def test_rerun_launches_the_day_and_its_status_is_polled(admin, launcher, dagster_home):
    r = _post(admin, f"/days/{D}/rerun", back=f"/?end={D}")
    assert r.status_code == 303 and r.headers["location"] == f"/?end={D}#launches"
    (launch,) = launcher.launched
    assert (launch.kind, launch.partition_date, launch.requested_by) == ("pipeline", DAY, "desk:ann")
    page = admin.get(f"/?end={D}")
    assert "re-run launched" in page.text and f'hx-get="/runs/{launch.run_id}/status"' in page.text
    status = admin.get(f"/runs/{launch.run_id}/status")
    assert "starting" in status.text and 'hx-trigger="every 2s"' in status.text
    # the run appears in the instance and succeeds: the fragment stops polling and links the Dagster UI
    _job("daily_pipeline").execute_in_process(instance=dg.DagsterInstance.get(), run_id=launch.run_id,
                                              tags={"dagster/partition": D})
    status = admin.get(f"/runs/{launch.run_id}/status")
    assert "succeeded" in status.text and "hx-trigger" not in status.text
    assert f"http://127.0.0.1:3000/runs/{launch.run_id}" in status.text
    assert admin.get("/runs/unknown/status").status_code == 404


def test_a_failed_launch_is_reported(admin, launcher, dagster_home):
    launcher.error = "DAGSTER_HOME is not set"
    _post(admin, f"/days/{D}/rerun")
    assert "could not be launched: DAGSTER_HOME is not set" in _flash(admin, "/")


# ---------------------------------------------------------------- preview


@pytest.fixture
def newsletter_day(desk_env):
    write_newsletter(subject="Chips <script>alert(1)</script> & more")
    return DAY


def test_preview_page_sandboxes_the_newsletter_and_escapes_text(admin, newsletter_day):
    page = admin.get(f"/days/{D}/preview")
    assert page.status_code == 200
    assert f'<iframe src="/days/{D}/newsletter.html" sandbox=""' in page.text
    assert "Chips &lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page.text and "<script>alert" not in page.text
    assert 'id="w-mobile"' in page.text and "Plain-text part" in page.text
    assert re.search(r"HTML: <span class=\"ok\">0\.\d KB\s+of 102 KB", page.text)
    assert "blocking check" in page.text.lower() and 'id="check-failures"' in page.text  # no picks in this lakehouse
    frame = admin.get(f"/days/{D}/newsletter.html")
    csp = frame.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'; img-src https: data:; style-src 'unsafe-inline'")
    assert frame.headers["x-frame-options"] == "SAMEORIGIN" and "script-src" not in csp
    assert "https://desk.bitbybit.test/unsubscribe/test" in frame.text and "{{unsubscribe_url}}" not in frame.text
    missing = admin.get("/days/2026-08-01/preview")
    assert missing.status_code == 404 and "no newsletter" in missing.text.lower()
    assert admin.get("/days/not-a-day/preview").status_code == 404


def test_approve_needs_an_override_when_checks_fail_then_revoke(admin, newsletter_day):
    _post(admin, f"/days/{D}/approve", note="looks good")
    assert "not approved" in _flash(admin, f"/days/{D}/preview")
    with _store() as db:
        assert db.store.approval(DAY) is None
    _post(admin, f"/days/{D}/approve", note="looks good", force="yes")
    with _store() as db:
        a = db.store.approval(DAY)
        (event,) = db.store.approval_history(DAY)
    assert a.status == "approved" and a.approved_by == "desk:ann"
    assert event["note"].startswith("looks good; forced despite: ")
    page = admin.get(f"/days/{D}/preview")
    assert 'id="approval-state"><span class="badge ok">approved</span> by desk:ann' in page.text
    assert 'href="/days/2026-08-05/send" id="send"' in page.text
    _post(admin, f"/days/{D}/revoke")
    with _store() as db:
        assert db.store.approval(DAY).status == "draft"
    assert "draft; approve it first" in admin.get(f"/days/{D}/preview").text


def test_test_send_reaches_one_address_only(admin, newsletter_day, sink):
    _post(admin, f"/days/{D}/test-send", address="QA@Example.com")
    assert "Test email sent to qa@example.com" in _flash(admin, f"/days/{D}/preview")
    ((rcpt, msg),) = sink.messages
    assert rcpt == "qa@example.com" and msg["Subject"].startswith("[TEST] Chips")
    _post(admin, f"/days/{D}/test-send", address="not an address")
    assert "is not a valid address" in _flash(admin, f"/days/{D}/preview") and len(sink.messages) == 1
    with _store() as db:
        assert db.store.ledger(DAY) == []


def test_send_has_a_confirmation_step_and_launches_the_delivery_job(admin, newsletter_day, launcher, dagster_home):
    with _store() as db:
        db.store.add_subscriber("a@example.com", None, source="t", actor="t")
    blocked = admin.get(f"/days/{D}/send")
    assert 'id="send-blocked"' in blocked.text and "approve it first" in blocked.text
    _post(admin, f"/days/{D}/approve", force="yes")
    confirm = admin.get(f"/days/{D}/send")
    assert 'id="recipients">1<' in confirm.text and 'name="confirm" value="yes"' in confirm.text
    # without the confirmation field the POST only shows the confirmation page again
    assert _post(admin, f"/days/{D}/send").headers["location"] == f"/days/{D}/send" and not launcher.launched
    r = _post(admin, f"/days/{D}/send", confirm="yes")
    assert r.headers["location"] == f"/days/{D}/preview#delivery"
    (launch,) = launcher.launched
    assert (launch.kind, launch.partition_date, launch.requested_by) == ("delivery", DAY, "desk:ann")
    ledger = admin.get(f"/days/{D}/ledger")
    assert 'hx-trigger="every 2s"' in ledger.text and "starting" in ledger.text
    # the ledger fills as the send proceeds
    with _store() as db:
        edition = db.store.edition_for(DAY, content_sha256="x", newsletter_id="n", actor="t")
        db.store.enqueue(DAY, edition)
    assert 'id="ledger-pending">1<' in admin.get(f"/days/{D}/ledger").text


# ---------------------------------------------------------------- subscribers


def test_subscribers_add_search_unsubscribe(editor):
    for email, name in (("Ann@Example.com", "Ann"), ("bob@example.org", "Bob <b>"), ("cy@example.com", "")):
        assert _post(editor, "/subscribers", email=email, name=name).status_code == 303
    assert "ann@example.com added (active)" in _flash(editor, "/subscribers")
    _post(editor, "/subscribers", email="ann@example.com")
    assert "already a subscriber" in _flash(editor, "/subscribers")
    _post(editor, "/subscribers", email="no way")
    assert "is not a valid address" in _flash(editor, "/subscribers")
    page = editor.get("/subscribers?q=EXAMPLE.COM")
    listed = re.findall(r"<td>([^<]+@[^<]+)</td>", page.text)
    assert listed == ["ann@example.com", "cy@example.com"]
    assert "Bob &lt;b&gt;" in editor.get("/subscribers?q=bob").text
    assert re.findall(r"<td>([^<]+@[^<]+)</td>", editor.get("/subscribers?q=%25").text) == []  # LIKE wildcards are literal
    with _store() as db:
        sid = db.store.subscriber_by_email("cy@example.com").id
    _post(editor, f"/subscribers/{sid}/unsubscribe")
    assert "cy@example.com unsubscribed" in _flash(editor, "/subscribers")
    with _store() as db:
        (event,) = [e for e in db.store.w.query("SELECT * FROM subscriber_events WHERE event = 'unsubscribed'")]
    assert event["actor"] == "desk:ed"
    counts = editor.get("/subscribers?status=unsubscribed").text
    assert re.findall(r"<td>([^<]+@[^<]+)</td>", counts) == ["cy@example.com"]
    assert editor.get("/subscribers?status=nope").status_code == 404
    assert _post(editor, "/subscribers/00000000-0000-4000-8000-000000000000/unsubscribe").status_code == 404


# ---------------------------------------------------------------- users


def test_admin_adds_disables_and_enables_users(admin, app):
    page = admin.get("/users")
    assert page.status_code == 200 and "ann" in page.text
    _post(admin, "/users", username="Zoe", role="editor", password="a long enough password")
    assert "Added zoe (editor)" in _flash(admin, "/users")
    _post(admin, "/users", username="zoe", role="editor", password="a long enough password")
    assert "already exists" in _flash(admin, "/users")
    _post(admin, "/users", username="x", role="boss", password="short")
    assert "username" in _flash(admin, "/users")
    zoe = client_for(app)
    assert login(zoe, "zoe", "a long enough password").status_code == 303
    _post(admin, "/users/zoe/disable")
    assert "zoe disabled" in _flash(admin, "/users")
    assert zoe.get("/subscribers", follow_redirects=False).status_code == 303  # her session ended
    _post(admin, "/users/ann/disable")
    assert "cannot disable your own account" in _flash(admin, "/users")
    _post(admin, "/users/zoe/enable")
    assert login(client_for(app), "zoe", "a long enough password").status_code == 303
    assert _post(admin, "/users/nobody/disable").status_code == 404
    assert _post(admin, "/users/zoe/delete").status_code == 404


def test_users_cli_adds_with_a_password_from_stdin(desk_env, monkeypatch, caplog):
    import io
    import logging

    from bitbybit_assets.cli import main

    caplog.set_level(logging.INFO, logger="bitbybit")
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["users", "add", "Root", "--role", "admin", "--password-stdin"]) == 0
    assert "a long enough password" not in caplog.text
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "add", "bob", "--password-stdin"]) == 2
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "typed twice, hidden")
    assert main(["users", "add", "cy"]) == 0
    assert main(["users", "disable", "cy"]) == 0 and main(["users", "disable", "nobody"]) == 1
    assert main(["users", "list"]) == 0 and "root" in caplog.text and "disabled" in caplog.text
    with open_desk(PostgresResource()) as db:
        root, cy = db.users.get("root"), db.users.get("cy")
        assert root.role == "admin" and not root.disabled and cy.disabled and cy.role == "editor"
        assert db.users.authenticate("root", "a long enough password", "cli").ok
        stored = db.store.w.scalar("SELECT password_hash FROM desk_users WHERE username = 'root'")
    assert stored.startswith("$argon2id$") and "a long enough password" not in stored


def test_local_database_is_left_alone_while_a_launched_run_runs(desk_env, tmp_path):
    """DuckDB admits one process at a time: while a run this desk launched is running, the desk
    does not open the file (pages degrade, actions wait) so the run's own writes cannot fail."""
    import time

    from bitbybit_base.settings import secret_key
    from desk.app import DeskState, create_app
    from desk.launcher import SubprocessLauncher
    from tests.desk.conftest import add_user

    write_newsletter()
    fake = tmp_path / "fake-python"
    release = tmp_path / "release"  # the fake run lasts until the test has checked everything
    fake.write_text(f"#!/bin/sh\nwhile [ ! -e {release} ]; do sleep 0.05; done\n")
    fake.chmod(0o755)
    launcher = SubprocessLauncher(tmp_path / "launches", python=str(fake))
    app = create_app(DeskState(postgres=PostgresResource(), server_key=secret_key(), launcher=launcher))
    add_user("ann", "admin")
    client = client_for(app)
    assert login(client, "ann").status_code == 303
    r = _post(client, f"/days/{D}/rerun")
    assert r.status_code == 303
    (launch,) = launcher.running()
    # a second launch waits for the first (it would need the database the run holds)
    _post(client, f"/days/{D}/rerun")
    assert "not launched: a run launched from this desk is using the local database" in _flash(client, "/")
    today = client.get(f"/?end={D}")
    assert today.status_code == 200 and 'id="db-note"' in today.text and launch.run_id in today.text
    assert "starting" in client.get(f"/runs/{launch.run_id}/status").text
    preview = client.get(f"/days/{D}/preview")
    assert preview.status_code == 200 and 'id="db-busy"' in preview.text and 'id="newsletter-frame"' in preview.text
    assert 'id="ledger-busy"' in client.get(f"/days/{D}/ledger").text
    busy = _post(client, f"/days/{D}/approve", force="yes")
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    assert login(client_for(app), "ann").status_code == 503  # no new logins meanwhile
    release.touch()
    for _ in range(200):
        if not launcher.running():
            break
        time.sleep(0.1)
    assert _post(client, f"/days/{D}/approve", force="yes").status_code == 303
    assert 'id="db-note"' not in client.get(f"/?end={D}").text
    with open_desk(PostgresResource()) as db:  # recorded before its process started
        assert [x.run_id for x in db.launches.recent()] == [launch.run_id]
