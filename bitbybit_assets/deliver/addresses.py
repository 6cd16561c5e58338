"""Subscriber addresses: normalisation, validation and CSV import parsing (no Dagster, no database).

Syntax is checked by ``email-validator`` (RFC 5322 / RFC 6531 internationalised addresses, no DNS
look-up: an import must not depend on the network). The normalised form is lower-cased as a whole
(domain in its IDNA-decoded form): local parts are case-sensitive on paper but not at any real
provider, and ``Ann@Example.COM`` and ``ann@example.com`` must not become two subscribers who each
get the issue (listmonk and Mailman compare addresses the same way).
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email

MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit
MAX_NAME_LENGTH = 200
EMAIL_COLUMNS = ("email", "e-mail", "email_address", "address")
NAME_COLUMNS = ("name", "full_name", "display_name")


class InvalidAddress(ValueError):
    """An address that cannot be a subscriber, with the reason."""


def normalise_email(value: str) -> str:
    """The canonical form of ``value``; :class:`InvalidAddress` says why it is not valid."""
    if not isinstance(value, str):
        raise InvalidAddress("not text")
    text = unicodedata.normalize("NFC", value.strip())
    if not text:
        raise InvalidAddress("empty address")
    if len(text) > MAX_EMAIL_LENGTH:
        raise InvalidAddress(f"longer than {MAX_EMAIL_LENGTH} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidAddress("contains control characters")
    try:
        result = validate_email(text, check_deliverability=False, allow_display_name=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    return f"{result.local_part}@{result.domain}".lower()


def clean_name(value: str | None) -> str | None:
    """A display name: control characters removed, whitespace collapsed, length capped."""
    if value is None:
        return None
    text = "".join(c for c in unicodedata.normalize("NFC", str(value)) if c.isprintable() or c == " ")
    text = " ".join(text.split())
    if len(text) > MAX_NAME_LENGTH:
        raise InvalidAddress(f"name longer than {MAX_NAME_LENGTH} characters")
    return text or None


@dataclass
class ImportRow:
    line: int
    email: str
    name: str | None


@dataclass
class ImportResult:
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "line N: reason", one per bad row

    @property
    def ok(self) -> bool:
        return not self.errors


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def parse_csv(text: str, *, max_rows: int = 100_000) -> ImportResult:
    """Rows of a subscriber CSV (header with an ``email`` column, optional ``name``).

    Every bad row is reported with its line number (invalid address, duplicate in the file, too
    long, missing column); the caller imports nothing unless the result is :attr:`ImportResult.ok`.
    """
    result = ImportResult()
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        result.errors.append("line 1: empty file (expected a header with an 'email' column)")
        return result
    except csv.Error as exc:
        result.errors.append(f"line 1: not valid CSV: {exc}")
        return result
    email_col = _column(header, EMAIL_COLUMNS)
    name_col = _column(header, NAME_COLUMNS)
    if email_col is None:
        result.errors.append(f"line 1: no 'email' column in header {header!r}")
        return result
    seen: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(result.rows) + len(result.errors) >= max_rows:
                result.errors.append(f"line {line}: more than {max_rows} rows")
                break
            if email_col >= len(row):
                result.errors.append(f"line {line}: no value in the email column")
                continue
            try:
                email = normalise_email(row[email_col])
                name = clean_name(row[name_col]) if name_col is not None and name_col < len(row) else None
            except InvalidAddress as exc:
                result.errors.append(f"line {line}: {row[email_col].strip()[:80]!r}: {exc}")
                continue
            if email in seen:
                result.errors.append(f"line {line}: {email} duplicates line {seen[email]}")
                continue
            seen[email] = line
            result.rows.append(ImportRow(line, email, name))
    except csv.Error as exc:
        result.errors.append(f"line {reader.line_num}: not valid CSV: {exc}")
    return result
