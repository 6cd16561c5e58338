"""A local SMTP sink for the demo: accepts every message on loopback and saves it as ``.eml``.

``bitbybit mailsink`` (default 127.0.0.1:1025, the local default of ``BITBYBIT_SMTP_URL``) logs one
line per message (recipient, subject, the unsubscribe link) so a new user can follow the link.
"""

from __future__ import annotations

import logging
import re
import time
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller

log = logging.getLogger("bitbybit")
_SAFE = re.compile(r"[^A-Za-z0-9@._-]+")


class SaveHandler:
    """aiosmtpd handler: one file per recipient per message under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802, ANN001 (aiosmtpd hook)
        data = envelope.original_content or envelope.content
        msg = message_from_bytes(data, policy=policy.default)
        self.folder.mkdir(parents=True, exist_ok=True)
        for rcpt in envelope.rcpt_tos:
            self.count += 1
            name = f"{time.strftime('%Y%m%dT%H%M%S')}-{self.count:05d}-{_SAFE.sub('_', rcpt)[:80]}.eml"
            (self.folder / name).write_bytes(data)
            log.info("mail for %s: %r  (%s)  unsubscribe: %s", rcpt, str(msg.get("Subject", "")),
                     self.folder / name, str(msg.get("List-Unsubscribe", "-")).strip("<>"))
        return "250 OK saved"


def serve(host: str, port: int, folder: Path) -> None:
    """Run until interrupted."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the mail sink only listens on loopback")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command chatter
    controller = Controller(SaveHandler(folder), hostname=host, port=port)
    controller.start()
    log.info("mail sink on smtp://%s:%d, saving to %s (Ctrl-C stops)", host, port, folder.resolve())
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
