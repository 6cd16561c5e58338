"""Pure delivery logic: addresses, CSV import, signed links, the message, approval, SES feedback."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime

import pytest

from bitbybit_assets.deliver import addresses, approval, feedback, tokens
from bitbybit_assets.deliver.message import build_message, new_message_id
from tests.deliver.conftest import DAY, newsletter

KEY = b"k" * 40


# ---------------------------------------------------------------- addresses


@pytest.mark.parametrize("raw, expected", [
    (" Ann@Example.COM ", "ann@example.com"),
    ("bob+news@sub.example.org", "bob+news@sub.example.org"),
    ("jörg@bücher.example", "jörg@bücher.example"),
])
def test_normalise_valid(raw, expected):
    assert addresses.normalise_email(raw) == expected


@pytest.mark.parametrize("raw, why", [
    ("", "empty"), ("no-at-sign", "@-sign"), ("a@@b.com", "invalid"), ("a b@c.com", "SPACE"),
    ("x" * 250 + "@a.com", "254"), ("a@b", "period"), ("a@example.com\r\nBcc: x@y.com", "control"),
    ("Ann <ann@example.com>", ""),
])
def test_normalise_invalid(raw, why):
    with pytest.raises(addresses.InvalidAddress) as exc:
        addresses.normalise_email(raw)
    assert why in str(exc.value)


def test_csv_reports_every_bad_row_with_its_line():
    text = "email,name\nann@example.com,Ann\nnot-an-address,Bad\n\nANN@example.com,Dup\nbob@example.com,Bob\n,\n"
    result = addresses.parse_csv(text)
    assert not result.ok
    assert [r.email for r in result.rows] == ["ann@example.com", "bob@example.com"]
    assert result.errors[0].startswith("line 3: 'not-an-address'")
    assert result.errors[1] == "line 5: ann@example.com duplicates line 2"
    assert len(result.errors) == 2


def test_csv_needs_an_email_column_and_accepts_bom():
    assert addresses.parse_csv("name\nAnn\n").errors == ["line 1: no 'email' column in header ['name']"]
    ok = addresses.parse_csv("\ufeffE-mail;x\n".replace(";", ",") + "a@example.com,1\n")
    assert ok.ok and ok.rows[0].email == "a@example.com" and ok.rows[0].name is None


def test_names_are_cleaned():
    assert addresses.clean_name("  Ann \x00\n Lee ") == "Ann Lee"
    with pytest.raises(addresses.InvalidAddress):
        addresses.clean_name("x" * 201)


# ---------------------------------------------------------------- tokens


def test_token_round_trip_and_purpose_binding():
    sid = uuid.uuid4()
    tok = tokens.sign(KEY, "unsubscribe", sid, "s1")
    assert tokens.verify(KEY, "unsubscribe", tok, "s1") == sid
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(KEY, "confirm", tok, "s1")  # an unsubscribe link cannot confirm
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(KEY, "unsubscribe", tok, "s2")  # rotated subscriber secret: revoked
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(b"other" * 8, "unsubscribe", tok, "s1")  # another server's key


@pytest.mark.parametrize("mutate", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),          # tampered MAC
    lambda t: uuid.uuid4().hex + t[32:],                         # MAC moved to another subscriber
    lambda t: t.replace(".", ""), lambda t: "", lambda t: "x." * 60, lambda t: "zz" + t[2:],
])
def test_tampered_tokens_are_refused(mutate):
    sid = uuid.uuid4()
    tok = tokens.sign(KEY, "unsubscribe", sid, "s1")
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(KEY, "unsubscribe", mutate(tok), "s1")


def test_token_reveals_no_address():
    tok = tokens.sign(KEY, "unsubscribe", uuid.uuid4(), "secret")
    assert "@" not in tok and len(tok) < 80


# ---------------------------------------------------------------- message


def test_message_headers_and_parts():
    content = newsletter()
    url = "https://desk.example/unsubscribe/abc.def"
    msg = build_message(content, recipient="ann@example.com", recipient_name='Ann "A" Lee',
                        mail_from="bitbybit <news@bitbybit.test>", unsubscribe_url=url,
                        list_id="bitbybit.newsletter", message_id=new_message_id("news@bitbybit.test"),
                        sent_at=datetime(2026, 8, 6, 7, 0, tzinfo=UTC))
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["List-Unsubscribe"] == f"<{url}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Precedence"] == "bulk" and msg["Auto-Submitted"] == "auto-generated"
    assert msg["List-Id"] == "bitbybit <bitbybit.newsletter>"
    assert msg["Message-ID"].endswith("@bitbybit.test>") and msg["Date"].startswith("Thu, 06 Aug 2026")
    assert msg["To"].addresses[0].addr_spec == "ann@example.com"
    assert msg["To"].addresses[0].display_name == 'Ann "A" Lee'
    text, html = (p.get_content() for p in msg.iter_parts())
    assert url in text and f'href="{url}"' in html and "{{unsubscribe_url}}" not in html + text


def test_subject_cannot_inject_headers():
    content = newsletter(subject="Hello\r\nBcc: victim@example.com")
    msg = build_message(content, recipient="a@example.com", recipient_name=None, mail_from="n@x.test",
                        unsubscribe_url="https://x/u/t", list_id="l.x", message_id="<m@x>",
                        sent_at=datetime.now(UTC))
    assert msg["Bcc"] is None and msg["Subject"] == "Hello Bcc: victim@example.com"


def test_content_hash_changes_with_what_readers_see():
    a = newsletter()
    assert a.content_sha256 == newsletter().content_sha256
    assert a.content_sha256 != newsletter(subject="Other").content_sha256


# ---------------------------------------------------------------- approval


def _decide(**kw):
    base = dict(day=DAY, mode="manual", content_sha256="c1", approved_sha256=None, approved=False,
                blocking_failures=[], now=datetime(2026, 8, 6, 8, 0, tzinfo=UTC), send_time="07:00",
                timezone="UTC")
    return approval.decide(**{**base, **kw})


def test_manual_mode_refuses_a_draft_and_a_stale_approval():
    assert not _decide().allowed and "draft" in _decide().reason
    stale = _decide(approved=True, approved_sha256="old")
    assert not stale.allowed and "changed after it was approved" in stale.reason
    ok = _decide(approved=True, approved_sha256="c1")
    assert ok.allowed and ok.approve_as is None


def test_auto_mode_waits_for_checks_and_the_send_time():
    early = _decide(mode="auto", now=datetime(2026, 8, 6, 6, 59, tzinfo=UTC))
    assert not early.allowed and "waits for the send time 2026-08-06T07:00:00+00:00" in early.reason
    failing = _decide(mode="auto", blocking_failures=["newsletters:links_http: bad"])
    assert not failing.allowed and "links_http" in failing.reason
    due = _decide(mode="auto")
    assert due.allowed and due.approve_as == "auto"
    tz = approval.send_due_at(date(2026, 8, 5), "07:00", "Europe/Paris")
    assert tz.astimezone(UTC).hour == 5


# ---------------------------------------------------------------- SES feedback


def _sns(message: dict) -> str:
    return json.dumps({"Type": "Notification", "MessageId": "m", "Message": json.dumps(message)})


def test_ses_permanent_bounce_and_complaint_suppress_transient_does_not():
    bounce = {"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
              "bouncedRecipients": [{"emailAddress": "Gone@Example.com", "diagnosticCode": "550 5.1.1"}]}}
    got = feedback.parse_notification(_sns(bounce))
    assert got == [feedback.Feedback("gone@example.com", "bounced", "SES permanent bounce (General): 550 5.1.1")]
    complaint = {"eventType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": "a@b.com"}]}}
    assert feedback.parse_notification(json.dumps(complaint))[0].status == "complained"  # raw delivery
    transient = {"notificationType": "Bounce", "bounce": {"bounceType": "Transient",
                 "bouncedRecipients": [{"emailAddress": "full@example.com"}]}}
    assert feedback.parse_notification(_sns(transient)) == []
    for bad in ("not json", "[]", _sns({"notificationType": "Weird"})):
        with pytest.raises(feedback.BadNotification):
            feedback.parse_notification(bad)
