"""The ``bitbybit users`` command: who may log in to the editorial desk.

    bitbybit users add USERNAME [--role editor|admin] [--password-stdin]
    bitbybit users list
    bitbybit users disable|enable USERNAME
    bitbybit users set-password USERNAME [--password-stdin]

Passwords are read from standard input (first line) with ``--password-stdin``, else prompted for
twice without echo; they never appear on the command line, in the logs or in the database
(argon2id hashes only).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys

from desk.db import DatabaseBusy, open_desk
from desk.passwords import ROLES, InvalidCredentials
from desk.users import UserExists, UserNotFound
from resources.postgres import PostgresResource

log = logging.getLogger("bitbybit")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``users`` and its actions."""
    users = sub.add_parser("users", help="desk users (log in to the editorial desk)")
    actions = users.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a user")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, default="editor")
    actions.add_parser("list", help="list users")
    for name, text in (("disable", "disable a user (ends their sessions)"), ("enable", "enable a user again")):
        actions.add_parser(name, help=text).add_argument("username")
    pw = actions.add_parser("set-password", help="set a new password (ends the user's sessions)")
    pw.add_argument("username")
    for p in (add, pw):
        p.add_argument("--password-stdin", action="store_true",
                       help="read the password from the first line of standard input")


def handle(args: argparse.Namespace) -> int | None:
    """Run a ``users`` command; ``None`` when ``args`` is not one."""
    if args.command != "users":
        return None
    try:
        return _users(args)
    except DatabaseBusy as exc:
        log.error("%s", exc)
        return 1


def read_password(from_stdin: bool) -> str | None:
    """The new password (``None`` after a mismatch or an empty input)."""
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n") or None
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        log.error("the two passwords differ")
        return None
    return first or None


def _users(args: argparse.Namespace) -> int:
    actor = f"cli:{getpass.getuser()}"
    with open_desk(PostgresResource()) as db:
        if args.action == "list":
            for u in db.users.users():
                log.info("%-24s %-7s %-9s created %s by %s, last login %s", u.username, u.role,
                         "disabled" if u.disabled else "enabled", f"{u.created_at:%Y-%m-%d}", u.created_by,
                         f"{u.last_login_at:%Y-%m-%d %H:%M}" if u.last_login_at else "never")
            return 0
        if args.action in ("disable", "enable"):
            try:
                changed = db.users.set_disabled(args.username, args.action == "disable")
            except UserNotFound as exc:
                log.error("%s", exc)
                return 1
            log.info("%s: %s", args.username, f"{args.action}d" if changed else f"already {args.action}d")
            return 0
        password = read_password(args.password_stdin)
        if password is None:
            log.error("no password given")
            return 2
        try:
            if args.action == "add":
                user = db.users.add(args.username, password, args.role, actor=actor)
                log.info("added %s (%s)", user.username, user.role)
            else:
                db.users.set_password(args.username, password)
                log.info("%s: password changed; their sessions ended", args.username)
        except (InvalidCredentials, UserExists, UserNotFound) as exc:
            log.error("%s", exc)
            return 2 if isinstance(exc, InvalidCredentials) else 1
        return 0
