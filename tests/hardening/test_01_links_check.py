"""Item 1: a harmless headline must not block the newsletter; the links check judges real
``href``/``src`` attributes of the parsed HTML, not text that looks like one."""

from __future__ import annotations

import re

import polars as pl

from bitbybit_assets import quality_rules as rules
from tests.hardening.support import DAY, newsletter
from tests.publish.helpers import enhanced_rows

HEADLINE = 'Stop writing href="javascript:void(0)" in your HTML'
# the check before the fix: a regex over the HTML text
LEGACY_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)


def _check(html: str) -> rules.RuleResult:
    return rules.newsletter_links_valid(pl.DataFrame({"partition_date": [DAY], "html": [html]}), [DAY])


def test_headline_that_quotes_a_javascript_href_passes_the_blocking_check():
    rows = enhanced_rows(8)
    rows[0]["title"] = HEADLINE
    rows[1]["summary"] = "Some tutorials still say <a href='javascript:alert(1)'>. They are wrong about it."
    rendered = newsletter(rows).row["html"]
    # the attack as reported: the old regex read the escaped headline text as a javascript: link
    legacy = [next(g for g in m.groups() if g is not None) for m in LEGACY_HREF.finditer(rendered)]
    assert any("javascript" in u for u in legacy)
    result = _check(rendered)
    assert result.passed, result.summary
    assert all(
        rules.is_web_link(u) or u.startswith(("mailto:", "#", "{{")) for u in rules.html_links(rendered)
    )


def test_real_non_http_attributes_still_fail():
    for bad in (
        '<a href="javascript:alert(1)">x</a>',
        '<a href="&#106;avascript:alert(1)">entity-encoded scheme</a>',
        '<img src="data:image/svg+xml;base64,PHN2Zz4=">',
        '<form action="javascript:alert(1)"><button formaction="vbscript:x">b</button></form>',
        '<img srcset="https://ok.example/a.png 1x, javascript:alert(1) 2x">',
        "<a HREF=ftp://files.example/x>unquoted upper-case</a>",
    ):
        assert not _check(f"<html><body>{bad}</body></html>").passed, bad


def test_only_attributes_count():
    html = (
        "<p>href=\"javascript:x\" src='data:y' action=vbscript:z</p>"
        '<!-- <a href="javascript:in-a-comment"> -->'
        "<textarea><a href='javascript:in-textarea'></textarea>"
        '<a href="https://ok.example/">ok</a>'
    )
    assert rules.html_links(html) == ["https://ok.example/"]
    assert _check(html).passed
