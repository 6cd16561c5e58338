"""Signed links for unsubscribe and confirmation (no Dagster, no database).

A token is ``<subscriber uuid hex>.<mac>`` where ``mac`` is HMAC-SHA256 over the purpose and the
subscriber id, keyed by the server secret *and* the subscriber's own secret. Tokens never expire;
rotating the subscriber's secret revokes every link issued before. The token names only a random
id, so it reveals nothing about the address or about other subscribers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

PURPOSES = ("unsubscribe", "confirm")
_MAC_CHARS = 32  # 192 bits of the HMAC, base64url


class InvalidToken(ValueError):
    """The token is malformed or its signature does not match."""


def _mac(server_key: bytes, purpose: str, subscriber_id: uuid.UUID, subscriber_secret: str) -> str:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    key = hashlib.sha256(server_key + b"\x00" + subscriber_secret.encode("utf-8")).digest()
    digest = hmac.new(key, f"{purpose}:{subscriber_id.hex}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:_MAC_CHARS]


def sign(server_key: bytes, purpose: str, subscriber_id: uuid.UUID | str, subscriber_secret: str) -> str:
    """A token for ``purpose`` (``unsubscribe`` or ``confirm``) of one subscriber."""
    sid = uuid.UUID(str(subscriber_id))
    return f"{sid.hex}.{_mac(server_key, purpose, sid, subscriber_secret)}"


def subscriber_of(token: str) -> uuid.UUID:
    """The subscriber id a token names (not yet verified); :class:`InvalidToken` if malformed."""
    if not isinstance(token, str) or len(token) > 100 or token.count(".") != 1:
        raise InvalidToken("malformed token")
    sid, _ = token.split(".")
    try:
        if len(sid) != 32:
            raise ValueError
        return uuid.UUID(hex=sid)
    except ValueError:
        raise InvalidToken("malformed token") from None


def verify(server_key: bytes, purpose: str, token: str, subscriber_secret: str) -> uuid.UUID:
    """The subscriber id of a valid token; :class:`InvalidToken` otherwise (constant-time compare)."""
    sid = subscriber_of(token)
    expected = _mac(server_key, purpose, sid, subscriber_secret)
    if not hmac.compare_digest(expected, token.split(".", 1)[1]):
        raise InvalidToken("signature does not match")
    return sid
