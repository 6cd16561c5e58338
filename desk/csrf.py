"""CSRF tokens: one random token per session, sent back with every state-changing request as the
form field ``csrf_token`` or the ``X-CSRF-Token`` header (htmx) and compared in constant time."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import MutableMapping
from typing import Any

FIELD = "csrf_token"
HEADER = "x-csrf-token"
SESSION_KEY = "csrf"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def session_token(session: MutableMapping[str, Any]) -> str:
    """The session's token, created on first use."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = new_token()
        session[SESSION_KEY] = token
    return token


def matches(expected: object, given: object) -> bool:
    """Both present and equal (constant-time)."""
    if not isinstance(expected, str) or not isinstance(given, str) or not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
