"""Item 5: the ``.sql`` export replays safely and exactly whatever ``standard_conforming_strings``
is, through ``psql`` and as one query string, and carries no NUL."""

from __future__ import annotations

import polars as pl
import psycopg2
import pytest

from bitbybit_assets.schemas import ENHANCED_ARTICLES
from bitbybit_assets.warehouse.export import sql_literal
from tests.hardening.support import DAY, export_sql, newsletter, psql_replay, strings
from tests.publish.helpers import enhanced_rows

pytestmark = pytest.mark.integration

ATTACK = "\\'); ROLLBACK; DROP TABLE newsletters CASCADE; --"


def _export(titles: list[str]) -> tuple[str, list[str]]:
    rows = enhanced_rows(len(titles))
    for r, t in zip(rows, titles, strict=True):
        r["title"] = t
    enhanced = pl.DataFrame(rows, schema=ENHANCED_ARTICLES)
    nl = newsletter(rows, min_articles=1)
    from bitbybit_assets.schemas import NEWSLETTERS

    sql, tables = export_sql(
        DAY, {"enhanced_articles": enhanced, "newsletters": pl.DataFrame([nl.row], schema=NEWSLETTERS)}
    )
    return sql, tables["articles"].sort("newsletter_rank")["title"].to_list()


def _titles(dsn: str) -> list[str]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('newsletters') IS NOT NULL")
            assert cur.fetchone()[0], "the newsletters table was dropped"
            cur.execute(
                "SELECT title FROM articles WHERE partition_date = %s ORDER BY newsletter_rank", [DAY]
            )
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def _victim_survives(dsn: str, literal: str, tmp_path) -> bool:
    sql = f"DROP TABLE IF EXISTS victim;\nCREATE TABLE victim (x int);\nSELECT length({literal});\n"
    psql_replay(dsn, sql, conforming=False, tmp=tmp_path)
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('victim') IS NOT NULL")
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_the_attack_on_the_legacy_literal_and_on_the_new_one(migrated_pg, tmp_path):
    attack = "\\'); DROP TABLE victim; --"
    # before: '...' with only quotes doubled; with standard_conforming_strings=off the backslash
    # escapes the first quote and the rest of the title runs as SQL
    legacy = "'" + attack.replace("'", "''") + "'"
    assert not _victim_survives(migrated_pg, legacy, tmp_path)
    assert sql_literal(attack, "text").startswith("E'")
    assert _victim_survives(migrated_pg, sql_literal(attack, "text"), tmp_path)


@pytest.mark.parametrize("conforming", [False, True])
def test_replay_through_psql_is_exact_under_both_settings(migrated_pg, tmp_path, conforming):
    titles = [ATTACK, *strings()["sql"], "plain title", "caf\u00e9 \U0001f600 \u05e9\u05dc\u05d5\u05dd"]
    sql, expected = _export(titles)
    assert "SET LOCAL standard_conforming_strings = on;" in sql and "\x00" not in sql
    done = psql_replay(migrated_pg, sql, conforming=conforming, tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _titles(migrated_pg) == expected
    again = psql_replay(migrated_pg, sql, conforming=conforming, tmp=tmp_path)  # idempotent replay
    assert again.returncode == 0 and _titles(migrated_pg) == expected


def test_replay_as_one_query_string_with_conforming_strings_off(migrated_pg):
    # a client sending the whole file at once: the server parses every statement before the SET runs
    sql, expected = _export([ATTACK, "O'Reilly \\ path"])
    conn = psycopg2.connect(migrated_pg, options="-c standard_conforming_strings=off")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()
    assert _titles(migrated_pg) == expected
