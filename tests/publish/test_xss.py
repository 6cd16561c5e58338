"""Safety: feed HTML and hostile values never become executable content in the newsletter."""

from __future__ import annotations

import html as html_lib
import re

import polars as pl
import pytest
from selectolax.lexbor import LexborHTMLParser

from bitbybit_assets.enhance.enhance import enhance_articles
from bitbybit_assets.publish.newsletter import build_day
from bitbybit_assets.publish.render import NewsletterSettings
from bitbybit_assets.publish.sanitize import plain_text, safe_unsubscribe_url, safe_url
from tests.enhance.helpers import DAY, scored_frame
from tests.publish.helpers import enhanced_row, inspect

SETTINGS = NewsletterSettings(min_articles=0)

TEXT_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    "<iframe src=javascript:alert(1)></iframe>",
    "<body onload=alert(1)>",
    '<div style="width: expression(alert(1))">css</div>',
    "<style>@import 'javascript:alert(1)'; body{background:url(javascript:alert(1))}</style>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    "%3Cscript%3Ealert(1)%3C/script%3E",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<!--<script>alert(1)//-->",
    "]]><script>alert(1)</script>",
    "\u2028<script>alert(1)</script>\u2029",
    "<object data=javascript:alert(1)></object><embed src=javascript:alert(1)>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    "<form action=javascript:alert(1)><button>x</button></form>",
    "<details open ontoggle=alert(1)>",
    "{{ 7*7 }}{% for x in range(3) %}x{% endfor %}",
    '<a href="&#106;avascript:alert(1)">encoded</a>',
]

URL_PAYLOADS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "jav&#x09;ascript:alert(1)",
    "&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)",
    "&#x6A;avascript:alert(1)",
    "&amp;#106;avascript:alert(1)",
    "javascript&colon;alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "DATA:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "//evil.example/x",
    "\x01javascript:alert(1)",
    "%6A%61%76%61%73%63%72%69%70%74:alert(1)",
    "javascript://%0Aalert(1)",
    "https:javascript:alert(1)",
    "http://user:pw@evil.example/",
    'https://ok.example/"onmouseover="alert(1)',
    "https://ok.example/'><script>alert(1)</script>",
    "http://ok.example/?q=<script>alert(1)</script>",
    "https://ok.example/ x onerror=alert(1)",
    "  https://ok.example/padded  ",
]

DANGEROUS_TAGS = {
    "script",
    "iframe",
    "object",
    "embed",
    "svg",
    "math",
    "base",
    "link",
    "form",
    "frame",
    "frameset",
    "applet",
    "button",
    "input",
    "textarea",
    "select",
    "details",
    "template",
}
URL_ATTRS = {"href", "src", "action", "formaction", "background", "poster", "data", "srcset", "xlink:href"}
# every attribute the template writes; anything else would be markup that broke out of a value
KNOWN_ATTRS = {
    "class",
    "style",
    "href",
    "src",
    "alt",
    "title",
    "width",
    "height",
    "role",
    "cellpadding",
    "cellspacing",
    "border",
    "align",
    "bgcolor",
    "lang",
    "xmlns",
    "name",
    "content",
    "charset",
    "http-equiv",
}


def _squash(value: str) -> str:
    """An attribute value as a browser would compare a scheme: decoded, no whitespace/controls."""
    return re.sub(r"[\x00-\x20\x7f]", "", html_lib.unescape(value)).lower()


def assert_no_executable_content(document: str) -> None:
    """Parse with the stdlib parser and with an HTML5 (browser-grade) parser and check both."""
    doc = inspect(document)
    for tag, attrs in doc.tags:
        assert tag not in DANGEROUS_TAGS, f"<{tag}> in output"
        if tag == "meta":
            assert attrs.get("http-equiv") in (None, "X-UA-Compatible"), attrs
        for name, value in attrs.items():
            assert not name.lower().startswith("on"), f"event handler {name} on <{tag}>"
            value = value or ""
            if name.lower() in URL_ATTRS:
                assert value.startswith(("https://", "http://")) or value == "{{unsubscribe_url}}", (
                    tag,
                    name,
                    value,
                )
            assert name.lower() in KNOWN_ATTRS, (
                f"unexpected attribute {name}={value!r} on <{tag}> (breakout?)"
            )
            if name.lower() in URL_ATTRS | {"style"}:
                squashed = _squash(value)
                for bad in (
                    "javascript:",
                    "vbscript:",
                    "data:",
                    "expression(",
                    "-moz-binding",
                    "behavior:",
                    "@import",
                ):
                    assert bad not in squashed, (tag, name, value)
                if name.lower() == "style":
                    assert "url(" not in squashed, (tag, value)
    style = _squash("".join(doc.styles))
    for bad in ("javascript", "expression(", "@import", "url(", "</"):
        assert bad not in style
    # the HTML5 parser (lexbor) sees the document as a browser would
    tree = LexborHTMLParser(document)
    assert tree.css("script, iframe, object, embed, svg, math, base, form") == []
    for node in tree.css("*"):
        for name in node.attributes:
            assert not name.lower().startswith("on"), (node.tag, name)
    assert len(tree.css("style")) == 1


@pytest.mark.parametrize("payload", TEXT_PAYLOADS)
def test_text_payloads_render_as_inert_text(payload):
    row = enhanced_row(
        0,
        title=f"Title {payload}",
        summary=f"Summary {payload} ends here.",
        tags=[payload, "ok"],
        feed_name=payload,
        domain=payload,
        also_covered_by=[{"feed_name": payload, "title": payload, "url": "https://ok.example/also"}],
    )
    res = build_day(DAY, [row, enhanced_row(1)], settings=SETTINGS, write_files=False)
    assert_no_executable_content(res.row["html"])
    # the reader sees the characters literally (as text, not markup)
    doc = inspect(res.row["html"])
    assert plain_text(f"Title {payload}") in doc.all_text


@pytest.mark.parametrize("payload", URL_PAYLOADS)
def test_url_payloads_never_become_links(payload):
    row = enhanced_row(
        0,
        url=payload,
        image_url=payload,
        also_covered_by=[{"feed_name": "x", "title": "t", "url": payload}],
    )
    res = build_day(DAY, [row], settings=SETTINGS, write_files=False)
    assert_no_executable_content(res.row["html"])
    for line in res.row["text"].splitlines():
        assert not re.search(r"(javascript|vbscript|data):", _squash(line)), line


def test_feed_html_through_enhancement_is_escaped():
    """Hostile feed HTML (summary_html / content_html / clean_text / title) via the offline path."""
    hostile = "<p>Good text here with enough words to be a sentence.</p><script>alert(1)</script>" + "".join(
        TEXT_PAYLOADS
    )
    scored = scored_frame(2).with_columns(
        summary_html=scored_frame(2)["summary_html"] + hostile,
        content_html=scored_frame(2)["summary_html"] + hostile,
        clean_text=scored_frame(2)["clean_text"] + " <script>alert(1)</script> <img src=x onerror=alert(1)>",
        title=scored_frame(2)["title"] + " <img src=x onerror=alert(1)>",
        url=pl.Series(["javascript:alert(1)", "https://ok.example/fine"]),
    )
    enhanced = enhance_articles(scored)
    res = build_day(DAY, enhanced.to_dicts(), settings=SETTINGS, write_files=False)
    assert_no_executable_content(res.row["html"])


def test_subject_preheader_and_intro_are_escaped():
    from bitbybit_assets.publish.subject import Copy

    evil = "<script>alert(1)</script><img src=x onerror=alert(1)>"
    copy = Copy(evil, [evil], evil, evil)
    from bitbybit_assets.publish.render import render_newsletter

    rendered = render_newsletter([enhanced_row(0)], copy, day=DAY, settings=SETTINGS)
    assert_no_executable_content(rendered.html)
    assert "&lt;script&gt;" in rendered.html


def test_config_values_are_escaped_too():
    settings = NewsletterSettings(
        min_articles=0,
        title="<script>alert(1)</script>",
        tagline="<img src=x onerror=alert(1)>",
        unsubscribe_url="javascript:alert(1)",
    )
    res = build_day(DAY, [enhanced_row(0)], settings=settings, write_files=False)
    assert_no_executable_content(res.row["html"].replace('href="#unsubscribe"', 'href="https://x.example/"'))
    assert res.row["list_unsubscribe"] is None


@pytest.mark.parametrize("payload", URL_PAYLOADS[:20])
def test_safe_url_refuses_payloads(payload):
    assert safe_url(payload) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://ok.example/a?b=1&c=2#frag", "https://ok.example/a?b=1&c=2#frag"),
        ("HTTP://OK.example", "http://ok.example/"),
        ("https://ok.example/?a=1&copy=2", "https://ok.example/?a=1&copy=2"),
        ('https://ok.example/"onmouseover="x', "https://ok.example/%22onmouseover=%22x"),
        ("  https://ok.example/padded  ", "https://ok.example/padded"),
        ("https://ok.example/ x", "https://ok.example/%20x"),
    ],
)
def test_safe_url_keeps_and_normalises_http_links(url, expected):
    assert safe_url(url) == expected


def test_unsubscribe_url_accepts_merge_tags_and_mailto_only():
    assert safe_unsubscribe_url("{{unsubscribe_url}}") == "{{unsubscribe_url}}"
    assert safe_unsubscribe_url("*|UNSUB|*") == "*|UNSUB|*"
    assert safe_unsubscribe_url("mailto:unsubscribe@example.com") == "mailto:unsubscribe@example.com"
    assert safe_unsubscribe_url("https://example.com/u?id=1") == "https://example.com/u?id=1"
    assert safe_unsubscribe_url("javascript:alert(1)") is None
    assert safe_unsubscribe_url("{{x}}<script>") is None
