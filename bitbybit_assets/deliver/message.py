"""One subscriber's email of a day's newsletter (no Dagster, no network).

``multipart/alternative`` with the text part first and the HTML part last (RFC 2046: the richest
last), the newsletter's ``{{unsubscribe_url}}`` merge tag replaced by the reader's own signed link,
and the headers bulk mail needs:

* ``List-Unsubscribe`` (the signed HTTPS link) + ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``
  (RFC 8058): mail apps show an unsubscribe button that POSTs without opening a page.
* ``List-Id`` (RFC 2919) so readers and providers can filter the list.
* ``Precedence: bulk`` and ``Auto-Submitted: auto-generated``: RFC 3834 forbids auto-responders to
  answer ``Auto-Submitted`` mail, and the widely honoured ``Precedence: bulk`` stops the vacation
  replies and loops of older ones; neither affects delivery or spam scoring at the large providers.
* ``Message-ID`` (made here, stored in the ledger before sending) and ``Date``.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import re
from dataclasses import dataclass
from datetime import date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr

MERGE_TAG = re.compile(r"\{\{\s*unsubscribe_url\s*\}\}")


@dataclass(frozen=True)
class NewsletterContent:
    """What is sent: one day's newsletter as stored in the ``newsletters`` table."""

    day: date
    newsletter_id: str
    subject: str
    preheader: str
    html: str
    text: str

    @property
    def content_sha256(self) -> str:
        """The identity an approval and an edition refer to: any change of what readers see changes it."""
        h = hashlib.sha256()
        for part in (self.subject, self.preheader, self.html, self.text):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\x00")
        return h.hexdigest()


def domain_of(mail_from: str) -> str:
    """The domain of the sender address (for Message-IDs)."""
    addr = parseaddr(mail_from)[1]
    return addr.rsplit("@", 1)[1] if "@" in addr else "localhost"


def new_message_id(mail_from: str) -> str:
    return make_msgid(idstring="bitbybit", domain=domain_of(mail_from))


def fill_merge_tags(content: NewsletterContent, unsubscribe_url: str) -> tuple[str, str]:
    """HTML and text with the reader's unsubscribe link in place of the merge tag."""
    html = MERGE_TAG.sub(lambda _: html_lib.escape(unsubscribe_url, quote=True), content.html)
    text = MERGE_TAG.sub(lambda _: unsubscribe_url, content.text)
    return html, text


def build_message(content: NewsletterContent, *, recipient: str, recipient_name: str | None,
                  mail_from: str, unsubscribe_url: str, list_id: str, message_id: str, sent_at: datetime,
                  subject_prefix: str = "") -> EmailMessage:
    """The email for one recipient."""
    html, text = fill_merge_tags(content, unsubscribe_url)
    msg = EmailMessage()
    msg["From"] = mail_from
    local, _, domain = recipient.partition("@")
    msg["To"] = Address(display_name=recipient_name or "", username=local, domain=domain) \
        if recipient_name else recipient
    msg["Subject"] = subject_prefix + " ".join(content.subject.split())
    msg["Date"] = format_datetime(sent_at)
    msg["Message-ID"] = message_id
    msg["List-Id"] = formataddr(("bitbybit", list_id)).replace('"', "")
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Precedence"] = "bulk"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Bitbybit-Issue"] = f"{content.day.isoformat()} {content.newsletter_id}"
    msg.set_content(text, subtype="plain", charset="utf-8")
    if html.strip():
        msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg
