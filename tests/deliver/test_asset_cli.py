"""The ``newsletter_deliveries`` asset through the ``bitbybit`` CLI, on a lakehouse with a newsletter:
import/add/list, manual approval, send exactly once, test send, resend, auto mode."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import yaml

from bitbybit_assets import schemas
from bitbybit_assets.cli import main
from bitbybit_assets.deliver.database import open_store
from resources.lakehouse import Lakehouse
from resources.postgres import PostgresResource
from tests.deliver.conftest import DAY, newsletter

ARGS_DAY = ["--day", DAY.isoformat()]


def write_newsletter(subject: str = "AI chips, bit by bit") -> None:
    c = newsletter(subject=subject)
    row = {"partition_date": DAY, "newsletter_id": c.newsletter_id, "subject_line": c.subject,
           "subject_candidates": [c.subject], "preheader": c.preheader, "intro": "Intro", "sections_json": "[]",
           "html": c.html, "text": c.text, "article_ids": ["a"], "article_count": 1,
           "html_bytes": len(c.html), "generated_at": datetime.now(UTC), "llm_cost_usd": 0.0,
           "copy_source": "offline", "list_unsubscribe": "<{{unsubscribe_url}}>", "trimmed": []}
    lake = Lakehouse()
    dt = lake.delta_table("newsletters")
    if dt is not None:
        dt.delete(f"partition_date = '{DAY.isoformat()}'")
    lake.write_days("newsletters", pl.DataFrame([row], schema=schemas.NEWSLETTERS), DAY, DAY)


@pytest.fixture
def cli_env(delivery_env, monkeypatch, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    write_newsletter()
    return tmp_path


def statuses() -> dict[str, str]:
    with open_store(PostgresResource()) as store:
        return {s.email: s.status for s in store.subscribers()}


def test_import_validates_every_row_and_imports_all_or_nothing(cli_env, caplog):
    bad = cli_env / "bad.csv"
    bad.write_text("email,name\nann@example.com,Ann\nnot an address,X\nANN@example.com,Dup\n")
    assert main(["subscribers", "import", str(bad)]) == 1
    assert "line 3: 'not an address'" in caplog.text and "line 4: ann@example.com duplicates line 2" in caplog.text
    assert statuses() == {}
    good = cli_env / "good.csv"
    good.write_text("email,name\nann@example.com,Ann\nbob@example.com,Bob\n")
    assert main(["subscribers", "import", str(good)]) == 0
    assert main(["subscribers", "add", "Cy@Example.com", "--name", "Cy"]) == 0
    assert main(["subscribers", "add", "nope"]) == 2
    assert main(["subscribers", "remove", "bob@example.com"]) == 0
    assert main(["subscribers", "list"]) == 0
    assert statuses() == {"ann@example.com": "active", "bob@example.com": "unsubscribed", "cy@example.com": "active"}


def test_manual_approval_send_once_test_send_and_resend(cli_env, sink, caplog):
    (cli_env / "s.csv").write_text("email\nann@example.com\nbob@example.com\n")
    assert main(["subscribers", "import", str(cli_env / "s.csv")]) == 0
    # a draft is refused
    assert main(["send", *ARGS_DAY]) == 1
    assert "is a draft; approve it first" in caplog.text and sink.messages == []
    # approval checks the blocking checks (this lakehouse has no picks): refused unless forced
    assert main(["approve", *ARGS_DAY, "--by", "editor"]) == 1
    assert "blocking check failed" in caplog.text
    assert main(["approve", *ARGS_DAY, "--by", "editor", "--force"]) == 0
    assert main(["send", *ARGS_DAY]) == 0
    assert sorted(sink.recipients()) == ["ann@example.com", "bob@example.com"]
    # the deliver job also rebuilt the dbt model over the ledger
    with open_store(PostgresResource()) as store:
        stats = store.w.query("SELECT partition_date, sent, failed, suppressed, unsubscribed_since_last "
                              "FROM delivery_statistics")
    assert stats == [{"partition_date": DAY, "sent": 2, "failed": 0, "suppressed": 0, "unsubscribed_since_last": 0}]
    # re-materialising the partition sends to nobody twice
    assert main(["send", *ARGS_DAY]) == 0 and len(sink.messages) == 2
    # a test send reaches one address, ledger untouched
    assert main(["send", *ARGS_DAY, "--test", "qa@example.com"]) == 0
    rcpt, msg = sink.messages[-1]
    assert rcpt == "qa@example.com" and msg["Subject"].startswith("[TEST] ")
    with open_store(PostgresResource()) as store:
        assert store.ledger_counts(DAY)["sent"] == 2 and len(store.ledger(DAY)) == 2
    # the newsletter changes after sending: the stale approval blocks, a re-approval still does not
    # resend without an explicit, recorded --resend
    write_newsletter(subject="Corrected subject")
    assert main(["send", *ARGS_DAY]) == 1 and "changed after it was approved" in caplog.text
    assert main(["approve", *ARGS_DAY, "--by", "editor", "--force"]) == 0
    assert main(["send", *ARGS_DAY]) == 1 and "not sent again unless you ask" in caplog.text
    assert main(["send", *ARGS_DAY, "--resend"]) == 2
    assert main(["send", *ARGS_DAY, "--resend", "--reason", "wrong subject", "--by", "chief"]) == 0
    assert len(sink.messages) == 5 and sink.messages[-1][1]["Subject"] == "Corrected subject"
    with open_store(PostgresResource()) as store:
        eds = store.editions(DAY)
        assert [(e["edition"], e["requested_by"], e["reason"]) for e in eds][-1] == (2, "chief", "wrong subject")


def test_auto_mode_waits_for_blocking_checks(cli_env, sink, monkeypatch, caplog):
    settings = yaml.safe_load(Path("config/production.yaml").read_text())
    settings["delivery"]["approval"] = "auto"
    path = cli_env / "auto.yaml"
    path.write_text(yaml.safe_dump(settings))
    monkeypatch.setenv("BITBYBIT_SETTINGS_FILE", str(path))
    assert main(["subscribers", "add", "ann@example.com"]) == 0
    assert main(["send", *ARGS_DAY]) == 1
    assert "not auto-approved, blocking checks failed" in caplog.text and sink.messages == []


def test_double_opt_in_sends_a_confirmation_link_that_activates(cli_env, sink):
    from starlette.testclient import TestClient

    from desk.app import create_app

    assert main(["subscribers", "add", "new@example.com", "--double-opt-in"]) == 0
    assert statuses() == {"new@example.com": "pending"}
    (rcpt, msg), = sink.messages
    assert rcpt == "new@example.com" and msg["Subject"].startswith("Confirm your subscription")
    link = next(line for line in msg.get_content().splitlines() if "/confirm/" in line).split()[-1]
    path = link.split("desk.bitbybit.test", 1)[1]
    client = TestClient(create_app())
    assert client.get(path).status_code == 200 and statuses() == {"new@example.com": "pending"}
    assert "confirmed" in client.post(path).text and statuses() == {"new@example.com": "active"}
