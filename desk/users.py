"""Desk users and the login rate limit, stored in the delivery database (``desk_users``,
``desk_login_failures``: migration 0005) through the warehouse adapter (PostgreSQL or DuckDB).

The rate limit lives in the database, not in process memory, so it holds across restarts and
across several desk processes: after :data:`MAX_FAILURES` failed logins for one username from one
client address within :data:`FAILURE_WINDOW`, further attempts are refused without checking the
password until the oldest failure leaves the window. A successful login clears the pair's failures.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from desk import passwords
from resources.warehouse_db import Warehouse

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
FAILURE_RETENTION = timedelta(days=2)  # older failure rows are pruned


class UserExists(ValueError):
    pass


class UserNotFound(LookupError):
    pass


@dataclass(frozen=True)
class DeskUser:
    """A desk user as the app sees it (never the password hash)."""

    id: str
    username: str
    role: str  # editor | admin
    disabled: bool
    session_epoch: int
    created_at: datetime
    created_by: str
    last_login_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class LoginResult:
    user: DeskUser | None
    outcome: str  # ok | bad | throttled | disabled

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def _user(row: dict[str, Any]) -> DeskUser:
    fields = DeskUser.__dataclass_fields__
    return DeskUser(**{k: (str(v) if k == "id" else v) for k, v in row.items() if k in fields})


class UserStore:
    """Users and failed logins over one warehouse connection."""

    def __init__(self, warehouse: Warehouse, *, now: Callable[[], datetime] | None = None) -> None:
        self.w = warehouse
        self._now = now or (lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self._now()

    # ------------------------------------------------------------------ users

    def _row(self, username: str) -> dict[str, Any] | None:
        rows = self.w.query("SELECT * FROM desk_users WHERE username = %s", [username.strip().lower()])
        return rows[0] if rows else None

    def get(self, username: str) -> DeskUser | None:
        row = self._row(username)
        return _user(row) if row else None

    def users(self) -> list[DeskUser]:
        return [_user(r) for r in self.w.query("SELECT * FROM desk_users ORDER BY username")]

    def count(self) -> int:
        return int(self.w.scalar("SELECT COUNT(*) FROM desk_users") or 0)

    def add(self, username: str, password: str, role: str, *, actor: str) -> DeskUser:
        """A new enabled user; :class:`passwords.InvalidCredentials` or :class:`UserExists` say why not."""
        name = passwords.check_username(username)
        passwords.check_role(role)
        digest = passwords.hash_password(password)
        now = self.now()
        with self.w.transaction():
            if self._row(name):
                raise UserExists(f"user {name!r} already exists")
            self.w.execute(
                "INSERT INTO desk_users (id, username, password_hash, role, disabled, session_epoch, created_at, "
                "created_by, updated_at) VALUES (CAST(%s AS UUID), %s, %s, %s, FALSE, 0, %s, %s, %s)",
                [str(uuid.uuid4()), name, digest, role, now, actor, now],
            )
        user = self.get(name)
        assert user is not None
        return user

    def _require(self, username: str) -> dict[str, Any]:
        row = self._row(username)
        if row is None:
            raise UserNotFound(f"no desk user {username!r}")
        return row

    def set_disabled(self, username: str, disabled: bool) -> bool:
        """Disable (ends every session at once) or enable a user; ``False`` when nothing changed."""
        row = self._require(username)
        if bool(row["disabled"]) == disabled:
            return False
        self.w.execute(
            "UPDATE desk_users SET disabled = %s, session_epoch = session_epoch + 1, updated_at = %s "
            "WHERE id = CAST(%s AS UUID)", [disabled, self.now(), str(row["id"])])  # fmt: skip
        return True

    def set_password(self, username: str, password: str) -> None:
        """A new password; every existing session of the user ends."""
        row = self._require(username)
        digest = passwords.hash_password(password)
        self.w.execute(
            "UPDATE desk_users SET password_hash = %s, session_epoch = session_epoch + 1, updated_at = %s "
            "WHERE id = CAST(%s AS UUID)", [digest, self.now(), str(row["id"])])  # fmt: skip

    # ------------------------------------------------------------------ login

    def recent_failures(self, username: str, client_ip: str) -> int:
        return int(self.w.scalar(
            "SELECT COUNT(*) FROM desk_login_failures WHERE username = %s AND client_ip = %s AND attempted_at > %s",
            [username, client_ip, self.now() - FAILURE_WINDOW]) or 0)  # fmt: skip

    def _record_failure(self, username: str, client_ip: str) -> None:
        now = self.now()
        self.w.execute(
            "INSERT INTO desk_login_failures (id, username, client_ip, attempted_at) VALUES "
            "(CAST(%s AS UUID), %s, %s, %s)", [str(uuid.uuid4()), username, client_ip, now])  # fmt: skip
        self.w.execute("DELETE FROM desk_login_failures WHERE attempted_at < %s", [now - FAILURE_RETENTION])

    def authenticate(self, username: str, password: str, client_ip: str) -> LoginResult:
        """Check a login. Throttled pairs are refused before the password is looked at; every
        other failure (unknown user, wrong password, disabled user) is recorded and counts."""
        name = (username or "").strip().lower()[:64]
        if self.recent_failures(name, client_ip) >= MAX_FAILURES:
            return LoginResult(None, "throttled")
        row = self._row(name) if name else None
        if not passwords.verify_password(row["password_hash"] if row else None, password):
            self._record_failure(name, client_ip)
            return LoginResult(None, "bad")
        if row["disabled"]:
            self._record_failure(name, client_ip)
            return LoginResult(None, "disabled")
        now = self.now()
        self.w.execute("DELETE FROM desk_login_failures WHERE username = %s AND client_ip = %s", [name, client_ip])
        if passwords.needs_rehash(row["password_hash"]):
            with contextlib.suppress(passwords.InvalidCredentials):  # an old password below today's rules
                self.w.execute("UPDATE desk_users SET password_hash = %s WHERE id = CAST(%s AS UUID)",
                               [passwords.hash_password(password), str(row["id"])])
        self.w.execute("UPDATE desk_users SET last_login_at = %s WHERE id = CAST(%s AS UUID)", [now, str(row["id"])])
        return LoginResult(self.get(name), "ok")
