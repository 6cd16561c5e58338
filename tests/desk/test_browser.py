"""The desk in a real browser (headless Chromium through Selenium) against a real server:
log in, preview, approve, test-send, send to two subscribers (a detached ``bitbybit send`` run
against the same Dagster home; htmx refreshes the ledger), then a reader unsubscribes through
the link in the email they received.

Screenshots of every page go to ``$BITBYBIT_DESK_SCREENSHOTS`` when set (``docs/desk`` holds the
committed ones), else to the test's temporary folder.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from bitbybit_assets.settings import secret_key
from desk.app import DeskState, create_app
from desk.db import open_desk
from desk.launcher import SubprocessLauncher
from resources.postgres import PostgresResource
from tests.deliver.conftest import DAY
from tests.desk.conftest import add_user, write_newsletter
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
D = DAY.isoformat()
NEWSLETTER_HTML = """<html><body style="margin:0;background:#f3f4f6">
<table role="presentation" width="100%"><tr><td align="center">
<table role="presentation" width="600" style="max-width:600px;background:#fff;font-family:Georgia,serif;padding:24px">
<tr><td><p style="color:#6b7280;font-size:13px">bitbybit · Wednesday, 5 August 2026</p>
<h1 style="font-size:26px;margin:8px 0 16px">AI chips, bit by bit</h1>
<p style="font-size:16px;line-height:1.5">Today: a new inference accelerator, a long read on sparse attention, and
why the open-weight race matters for small teams.</p>
<h2 style="font-size:19px;margin-top:24px"><a href="https://example.com/chips" style="color:#0b5cad">A new inference
accelerator ships</a></h2>
<p style="font-size:15px;line-height:1.5">The chip trades peak FLOPs for memory bandwidth. <em>4 min read</em></p>
<h2 style="font-size:19px;margin-top:24px"><a href="https://example.com/sparse" style="color:#0b5cad">Sparse attention,
explained</a></h2>
<p style="font-size:15px;line-height:1.5">How long-context models skip most of the work. <em>7 min read</em></p>
<p style="font-size:12px;color:#6b7280;margin-top:32px"><a href="{{unsubscribe_url}}">Unsubscribe</a></p>
</td></tr></table></td></tr></table></body></html>"""


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


def test_editor_flow_in_a_real_browser(pg_delivery_env, dagster_home, sink, monkeypatch, tmp_path, browser, shots):
    from selenium.webdriver.common.by import By

    monkeypatch.setenv("BITBYBIT_DBT_TARGET", "prod")  # the delivery job's dbt model runs on the same PostgreSQL
    write_newsletter(html=NEWSLETTER_HTML, text="AI chips, bit by bit\n\nUnsubscribe: {{unsubscribe_url}}\n")
    add_user("ann", "admin")
    add_user("ed", "editor")
    with open_desk(PostgresResource()) as db:
        for email, name in (("reader.one@example.com", "Reader One"), ("reader.two@example.com", "Reader Two")):
            db.store.add_subscriber(email, name, source="test", actor="test")
    port = free_port()
    # links in the emails point at this server (the send process reads it from the environment); plain
    # http, so the session cookie is not Secure
    monkeypatch.setenv("BITBYBIT_PUBLIC_URL", f"http://127.0.0.1:{port}")
    app = create_app(DeskState(postgres=PostgresResource(), server_key=secret_key(),
                               launcher=SubprocessLauncher(tmp_path / "launches")))
    with Server(app, port) as server:
        b = browser

        # log in (the first page redirects to the login form)
        b.get(server.url + f"/days/{D}/preview")
        assert "/login?next=" in b.current_url
        _shot(b, shots, "login", full=False)
        b.find_element(By.ID, "username").send_keys("ann")
        b.find_element(By.ID, "password").send_keys("correct horse battery")
        b.find_element(By.ID, "login").click()
        _wait(lambda: b.current_url.endswith(f"/days/{D}/preview"), what="the preview after login")

        # the preview: the newsletter renders inside the sandboxed frame
        frame = b.find_element(By.ID, "newsletter-frame")
        assert frame.get_attribute("sandbox") == ""
        b.switch_to.frame(frame)
        assert b.find_element(By.TAG_NAME, "h1").text == "AI chips, bit by bit"
        b.switch_to.default_content()
        b.find_element(By.CSS_SELECTOR, "label[for='w-mobile']").click()
        _wait(lambda: frame.size["width"] == 375, what="the mobile width")
        _shot(b, shots, "preview-mobile", full=False)
        b.find_element(By.CSS_SELECTOR, "label[for='w-desktop']").click()

        # approve: the blocking checks fail on this lakehouse (no picks), so the override is ticked
        b.find_element(By.ID, "force").click()
        b.find_element(By.ID, "approve").click()
        _wait(lambda: "approved by desk:ann" in b.find_element(By.ID, "approval-state").text, what="the approval")

        # a test send into the sink
        b.find_element(By.ID, "test-address").send_keys("qa@example.com")
        b.find_element(By.ID, "test-send").click()
        _wait(lambda: "Test email sent to qa@example.com" in b.page_source, what="the test-send message")
        assert sink.recipients() == ["qa@example.com"]
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
        b.get(server.url + f"/?end={D}")
        assert b.find_element(By.ID, f"day-{D}")
        b.get(server.url + "/subscribers")
        _shot(b, shots, "subscribers")
        b.get(server.url + "/users")
        _shot(b, shots, "users")

        # a reader unsubscribes from the link in the email they received
        (msg,) = [m for rcpt, m in sink.messages if rcpt == "reader.one@example.com"]
        link = re.search(r"<(http[^>]+/unsubscribe/[^>]+)>", msg["List-Unsubscribe"]).group(1)
        assert link.startswith(server.url)
        b.delete_all_cookies()  # a reader has no desk session
        b.get(link)
        b.find_element(By.ID, "unsubscribe").click()
        _wait(lambda: "will not receive the newsletter any more" in b.page_source, what="the unsubscribe answer")
        _shot(b, shots, "unsubscribed", full=False)
        with open_desk(PostgresResource()) as db:
            assert db.store.subscriber_by_email("reader.one@example.com").status == "unsubscribed"
            assert db.store.subscriber_by_email("reader.two@example.com").status == "active"
