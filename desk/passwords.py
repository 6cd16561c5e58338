"""Desk passwords: argon2id hashes (``argon2-cffi``, RFC 9106 parameters) and the rules a new one meets."""

from __future__ import annotations

import re
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # hashing cost grows with length: refuse megabyte "passwords"
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
ROLES = ("editor", "admin")

_hasher = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4 (argon2-cffi's RFC 9106 "low memory" profile)


@cache
def _dummy_hash() -> str:
    """A hash to verify against when the user is unknown: the login still pays for one verification,
    so no timing difference reveals who exists. Made on first use (~0.15 s), not at import: every
    CLI command imports this module."""
    return _hasher.hash("not-a-real-password-0123456789")


def prepare() -> None:
    """Make the dummy hash now (the desk app calls it at start-up, so the first login is not slower)."""
    _dummy_hash()


class InvalidCredentials(ValueError):
    """A username, password or role that cannot be stored, with the reason."""


def check_username(value: str) -> str:
    """The canonical (lower-case, trimmed) username; :class:`InvalidCredentials` says why not."""
    name = (value or "").strip().lower()
    if not USERNAME.match(name):
        raise InvalidCredentials("a username is 2-64 characters: a-z, 0-9, '.', '_' or '-' (starting with a "
                                 "letter or digit)")
    return name


def check_password(value: str) -> str:
    if len(value or "") < MIN_PASSWORD_LENGTH:
        raise InvalidCredentials(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if len(value) > MAX_PASSWORD_LENGTH:
        raise InvalidCredentials(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    if value.strip() != value:
        raise InvalidCredentials("a password does not start or end with whitespace")
    return value


def check_role(value: str) -> str:
    if value not in ROLES:
        raise InvalidCredentials(f"role {value!r} is not one of {', '.join(ROLES)}")
    return value


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (``None``: an unknown user, always ``False``,
    after the same amount of work)."""
    if len(password or "") > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password or "") and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's (upgrade it at login)."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True
