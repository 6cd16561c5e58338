"""The editor's whole day in a real browser (headless Chromium through Selenium) against a real
server, on a real lakehouse made from a bundled sample day: log in, open the day, drop a pick and
pin another, edit a summary, re-run the day (a detached ``bitbybit run`` against the same Dagster
home, followed on the Today page), see the new preview, approve, test-send into a local SMTP sink,
send to two subscribers (a detached ``bitbybit send``; htmx refreshes the ledger), then a reader
unsubscribes through the link in the email they received.

The desk's tables and dbt's analytics database are on a throw-away PostgreSQL database (as in
production), so the launched runs and the desk never contend for the local DuckDB file.

Screenshots of every page go to ``$BITBYBIT_DESK_SCREENSHOTS`` when set (``docs/desk`` holds the
committed ones), else to the test's temporary folder.
"""

from __future__ import annotations

import os
import re
import threading
import time
from datetime import date
from pathlib import Path

import pytest
import uvicorn

from bitbybit_base.settings import secret_key
from desk.app import DeskState, create_app
from desk.db import open_desk
from desk.launcher import SubprocessLauncher
from resources.lakehouse import Lakehouse
from resources.postgres import PostgresResource
from tests.desk.conftest import add_user
from tests.ops.receivers import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists() or not CHROMEDRIVER.exists(),
                       reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
                              "chromium-driver; .ci/run installs them)"),
]
DAY = date(2026, 8, 3)  # the first bundled sample day (make demo runs 2026-08-03..07)
D = DAY.isoformat()
RUN_TIMEOUT = 300  # s: the sample day's pipeline takes about 90 s on two cores
SUMMARY = "Edited on the desk: <b>html</b> & other markup stays text."


class Server:
    """uvicorn serving ``app`` on a free loopback port in a thread."""

    def __init__(self, app, port: int) -> None:
        self.port = port
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                return self
            time.sleep(0.05)
        raise RuntimeError("uvicorn did not start")

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,1000",
                "--disable-gpu", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("BITBYBIT_DESK_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def sample_day(pg_delivery_env, dagster_home):
    """A real lakehouse: the daily pipeline run once, in this process, on the bundled sample day
    (the feeds from ``sample_data/feeds``, the warehouse on the test's PostgreSQL database)."""
    import dagster as dg

    from bitbybit_assets.runs import run_days

    assert os.environ["BITBYBIT_FEED_SOURCE"] == "archive"
    with dg.DagsterInstance.get() as instance:
        result = run_days(DAY, DAY, instance=instance)
    assert result.success, "the sample day's pipeline run failed"
    newsletter = Lakehouse().read_days("newsletters", DAY, DAY)
    assert newsletter.height == 1
    return newsletter.row(0, named=True)


def _wait(predicate, timeout: float = 20, what: str = "condition"):
    """``predicate()``'s first true value; elements that are missing or replaced (page loads, htmx
    swaps) count as not yet."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (NoSuchElementException, StaleElementReferenceException):
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _shot(driver, folder: Path, name: str, full: bool = True) -> None:
    """A PNG of the page from its top (``full``: the whole page, not just the window)."""
    driver.execute_script("window.scrollTo(0, 0)")
    if full:
        height = driver.execute_script("return Math.max(document.body.scrollHeight, "
                                       "document.documentElement.scrollHeight)")
        driver.set_window_size(1440, max(900, min(int(height) + 160, 4000)))
        driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(folder / f"{name}.png"))
    driver.set_window_size(1440, 1000)


def _rows(driver) -> list[dict]:
    """The review table's rows: key, status classes, title, link and the selection cell."""
    return driver.execute_script("""
        return [...document.querySelectorAll('#candidates tbody tr[id^="row-"]')].map(tr => ({
            key: tr.id.slice(4), cls: tr.className, title: tr.querySelector('td.title').innerText.trim(),
            url: (tr.querySelector('td.title a') || {}).href || null,
            story: tr.cells[9].innerText, selection: tr.cells[10].innerText}));""")


def _flash(driver) -> str:
    return " ".join(e.text for e in driver.find_elements("css selector", ".flash"))


def _frame_html(driver) -> tuple[str, str]:
    """The newsletter iframe's visible text and its HTML source."""
    from selenium.webdriver.common.by import By

    driver.switch_to.frame(driver.find_element(By.ID, "newsletter-frame"))
    try:
        return driver.find_element(By.TAG_NAME, "body").text, driver.page_source
    finally:
        driver.switch_to.default_content()


def test_editor_day_on_a_real_lakehouse(sample_day, sink, monkeypatch, tmp_path, browser, shots):
    from selenium.webdriver.common.by import By

    add_user("ann", "admin")
    with open_desk(PostgresResource()) as db:
        for email, name in (("reader.one@example.com", "Reader One"), ("reader.two@example.com", "Reader Two")):
            db.store.add_subscriber(email, name, source="test", actor="test")
    port = free_port()
    # links in the emails point at this server (the launched processes read it from the environment,
    # as they read the lakehouse, Dagster home, PostgreSQL and SMTP settings); plain http, so the
    # session cookie is not Secure
    monkeypatch.setenv("BITBYBIT_PUBLIC_URL", f"http://127.0.0.1:{port}")
    app = create_app(DeskState(postgres=PostgresResource(), server_key=secret_key(),
                               launcher=SubprocessLauncher(tmp_path / "launches")))
    with Server(app, port) as server:
        b = browser

        # log in (the first page redirects to the login form), then the day's review
        b.get(server.url + f"/days/{D}")
        assert "/login?next=" in b.current_url
        _shot(b, shots, "login", full=False)
        b.find_element(By.ID, "username").send_keys("ann")
        b.find_element(By.ID, "password").send_keys("correct horse battery")
        b.find_element(By.ID, "login").click()
        _wait(lambda: b.current_url.endswith(f"/days/{D}"), what="the day after login")
        assert "revision 0" in b.find_element(By.ID, "revision").text
        rows = _rows(b)
        picks = [r for r in rows if r["cls"].split()[0] == "pick"]
        assert len(picks) >= 3, f"the sample day has {len(picks)} picks"
        assert len(picks) == sample_day["article_count"]
        _shot(b, shots, "review")

        # drop the second pick; pin a candidate the pipeline did not select (not an ad, not filtered,
        # not a duplicate story), from the lower half of the ranking so no replacement brings it in
        dropped = picks[1]
        eligible = [r for r in rows if r["cls"] == "out" and "filtered" not in r["selection"]
                    and "same story as" not in r["story"] and r["url"]]
        assert eligible, "no candidate to pin"
        pinned = eligible[len(eligible) // 2]
        edited = picks[0]
        b.find_element(By.CSS_SELECTOR, f"#row-{dropped['key']} button[formaction$='/drop']").click()
        _wait(lambda: "Dropped" in _flash(b), what="the drop")
        b.find_element(By.CSS_SELECTOR, f"#row-{pinned['key']} button[formaction$='/pin']").click()
        _wait(lambda: "Pinned" in _flash(b), what="the pin")
        rows = {r["key"]: r for r in _rows(b)}
        assert rows[dropped["key"]]["cls"].startswith("dropped")
        assert rows[pinned["key"]]["cls"].startswith("pick") and "pin" in rows[pinned["key"]]["selection"]

        # edit the first pick's summary (markup in it is text, escaped wherever it is shown)
        b.find_element(By.CSS_SELECTOR, f"#row-{edited['key']} a[href*='/articles/']").click()
        summary = b.find_element(By.CSS_SELECTOR, "#article-form textarea[name=summary]")
        summary.clear()
        summary.send_keys(SUMMARY)
        b.find_element(By.ID, "save-article").click()
        _wait(lambda: "Saved the summary" in _flash(b), what="the summary edit")
        assert b.current_url.endswith(f"/days/{D}")
        assert "revision 3" in b.find_element(By.ID, "revision").text
        assert b.find_element(By.ID, "pending-rerun")
        assert "edited: summary" in b.find_element(By.ID, f"row-{edited['key']}").text
        assert len(b.find_elements(By.CSS_SELECTOR, "#actions tbody tr")) == 3
        _shot(b, shots, "review-edited")
        b.get(server.url + f"/days/{D}/articles/{edited['key']}")
        assert b.find_element(By.CSS_SELECTOR, "textarea[name=summary]").get_attribute("value") == SUMMARY
        assert "<b>html</b>" not in b.page_source  # escaped in the form too

        # re-run the day: a detached `bitbybit run` on the same Dagster home; the Today page
        # follows it (htmx every 2 s) until it succeeded
        b.get(server.url + f"/days/{D}")
        b.find_element(By.ID, "rerun").click()
        flash = _wait(lambda: re.search(r"re-run launched \(\w+, run (\w{8})\)", _flash(b)), what="the launch")
        run_id = flash.group(1)
        b.get(server.url + f"/?end={D}")
        status = f"[id^='launch-{run_id}']"
        _wait(lambda: b.find_element(By.CSS_SELECTOR, status), what="the launch on Today")
        _wait(lambda: "launch-status succeeded" in b.find_element(By.CSS_SELECTOR, status).get_attribute("class")
              or (not b.find_element(By.CSS_SELECTOR, status).get_attribute("hx-get")
                  and b.find_element(By.CSS_SELECTOR, status).text),
              timeout=RUN_TIMEOUT, what="the re-run to end")
        final = b.find_element(By.CSS_SELECTOR, status)
        assert "succeeded" in final.get_attribute("class"), f"the re-run ended: {final.text}"
        _shot(b, shots, "today-rerun-succeeded")

        # the day now carries the edits: nothing pending, the new picks
        b.get(server.url + f"/days/{D}")
        assert not b.find_elements(By.ID, "pending-rerun")
        rows = {r["key"]: r for r in _rows(b)}
        assert rows[pinned["key"]]["cls"].startswith("pick")
        assert not rows[dropped["key"]]["cls"].startswith("pick")

        # the new preview: the dropped pick is gone, the pinned one is in, the summary is escaped text
        b.get(server.url + f"/days/{D}/preview")
        text, source = _frame_html(b)
        assert dropped["url"] not in source, "the dropped pick is still in the newsletter"
        assert pinned["url"] in source, "the pinned candidate is not in the newsletter"
        assert SUMMARY in text
        assert "&lt;b&gt;html&lt;/b&gt;" in source and "<b>html</b>" not in source
        text_part = b.find_element(By.ID, "text-part").get_attribute("textContent")  # in a closed <details>
        assert SUMMARY in " ".join(text_part.split())
        b.find_element(By.CSS_SELECTOR, "label[for='w-mobile']").click()
        frame = b.find_element(By.ID, "newsletter-frame")
        _wait(lambda: frame.size["width"] == 375, what="the mobile width")
        _shot(b, shots, "preview-mobile", full=False)
        b.find_element(By.CSS_SELECTOR, "label[for='w-desktop']").click()

        # approve (ticking the recorded override only if a blocking check fails on the sample day)
        if b.find_elements(By.ID, "force"):
            b.find_element(By.ID, "force").click()
        b.find_element(By.ID, "approve").click()
        _wait(lambda: "approved by desk:ann" in b.find_element(By.ID, "approval-state").text, what="the approval")

        # a test send into the sink: the edited issue
        b.find_element(By.ID, "test-address").send_keys("qa@example.com")
        b.find_element(By.ID, "test-send").click()
        _wait(lambda: "Test email sent to qa@example.com" in b.page_source, what="the test-send message")
        assert sink.recipients() == ["qa@example.com"]
        (test_msg,) = [m for _, m in sink.messages]
        test_html = test_msg.get_body(("html",)).get_content()
        assert pinned["url"] in test_html and dropped["url"] not in test_html
        assert "&lt;b&gt;html&lt;/b&gt;" in test_html and "<b>html</b>" not in test_html
        _shot(b, shots, "preview")

        # send, after the confirmation page
        b.find_element(By.ID, "send").click()
        assert b.find_element(By.ID, "recipients").text == "2"
        _shot(b, shots, "send-confirm", full=False)
        b.find_element(By.ID, "confirm-send").click()
        # htmx polls the ledger every 2 s until the run has sent to both readers
        _wait(lambda: b.find_elements(By.ID, "ledger-sent") and b.find_element(By.ID, "ledger-sent").text == "2",
              timeout=180, what="the ledger to reach 2 sent")
        _wait(lambda: b.find_element(By.ID, "delivery-state").text == "succeeded", timeout=60,
              what="the delivery run to succeed")
        assert sorted(sink.recipients()) == ["qa@example.com", "reader.one@example.com", "reader.two@example.com"]
        _shot(b, shots, "preview-sent")

        # the other pages
        b.get(server.url + "/subscribers")
        _shot(b, shots, "subscribers")
        b.get(server.url + "/users")
        _shot(b, shots, "users")

        # a reader unsubscribes from the link in the email they received
        (msg,) = [m for rcpt, m in sink.messages if rcpt == "reader.one@example.com"]
        html = msg.get_body(("html",)).get_content()
        assert pinned["url"] in html and "&lt;b&gt;html&lt;/b&gt;" in html
        links = re.findall(r'href="(http[^"]+/unsubscribe/[^"]+)"', html)
        assert links, "no unsubscribe link in the email"
        link = links[0].replace("&amp;", "&")
        assert link.startswith(server.url)
        assert f"<{link}>" in msg["List-Unsubscribe"]
        b.delete_all_cookies()  # a reader has no desk session
        b.get(link)
        b.find_element(By.ID, "unsubscribe").click()
        _wait(lambda: "will not receive the newsletter any more" in b.page_source, what="the unsubscribe answer")
        _shot(b, shots, "unsubscribed", full=False)
        with open_desk(PostgresResource()) as db:
            assert db.store.subscriber_by_email("reader.one@example.com").status == "unsubscribed"
            assert db.store.subscriber_by_email("reader.two@example.com").status == "active"
