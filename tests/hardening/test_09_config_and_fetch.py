"""Item 9: configuration mistakes fail at load with the file, the key and what was expected; one
place sizes the GPU task; secrets stay out of logs; a slow feed cannot hold a fetch past its
deadline."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bitbybit_assets.curate.assets import GPU_OP_TAGS
from bitbybit_assets.feeds_store import load_feeds
from bitbybit_assets.jobs import gpu_run_tags
from bitbybit_base import settings
from bitbybit_base.settings import FetchSettings, SettingsError, load_settings
from bitbybit_base.settings_models import LLMConfig
from bitbybit_base.text_safety import redact_url
from resources.fetch_types import FetchRequest
from resources.http_fetch import HttpFeedFetcher
from resources.llm import LLMResource
from tests.hardening.support import FIXTURES
from tests.support.http_server import Response, local_http_server

CONFIG = FIXTURES / "config"
EXPECTED = json.loads((CONFIG / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_config_files_fail_at_load_naming_file_and_key(name):
    path = CONFIG / name
    loader = load_feeds if name.startswith("feeds") else load_settings
    with pytest.raises(SettingsError) as exc:  # before: TypeError / UnicodeDecodeError / a later stage
        loader(path)
    message = str(exc.value)
    assert message.startswith(str(path)), message
    for part in EXPECTED[name]:
        assert part in message, message


def test_every_corpus_config_file_is_covered():
    assert sorted(p.name for p in CONFIG.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize(
    "field, value",
    [("timeout_seconds", -1), ("timeout_seconds", 0), ("max_redirects", -1), ("max_retries", -2),
     ("max_bytes", -100), ("concurrency", 0), ("per_host_delay_seconds", -1), ("feed_deadline_seconds", 0),
     ("max_retry_after_seconds", -5), ("user_agent", "bot\r\nX-Injected: 1")],
)  # fmt: skip
def test_nonsense_fetch_limits_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        FetchSettings(**{field: value})


def test_the_real_config_loads_and_validates_every_section():
    cfg = load_settings()
    assert cfg.ingest.fetch.feed_deadline_seconds > cfg.ingest.fetch.timeout_seconds
    load_feeds()


# ---------------------------------------------------------------- one GPU task size


def test_gpu_task_is_sized_in_one_place():
    deploy = load_settings().deployment
    tags = gpu_run_tags()
    assert (tags["ecs/cpu"], tags["ecs/memory"]) == (deploy.gpu_task_cpu, deploy.gpu_task_memory)
    # before: the op tags said 16384 MiB while the run tags (production.yaml) said 14336
    assert not {"ecs/cpu", "ecs/memory"} & set(GPU_OP_TAGS)
    task = json.loads((settings.PROJECT_ROOT / "deploy" / "aws" / "ecs" / "run-gpu.json").read_text())
    assert (task["cpu"], task["memory"]) == (deploy.gpu_task_cpu, deploy.gpu_task_memory)


# ---------------------------------------------------------------- secrets out of logs


def test_llm_base_url_is_redacted_in_logs(monkeypatch, caplog):
    from bitbybit_assets.llm_store import open_session

    url = "https://alice:sk-live-SECRET@llm.example/v1?api_key=SECRET2&region=eu"
    assert redact_url(url) == "https://***@llm.example/v1?api_key=***&region=eu"
    logs: list[str] = []
    log = SimpleNamespace(info=logs.append, warning=logs.append)
    store = SimpleNamespace(read_days=lambda *a, **k: __import__("polars").DataFrame())
    llm = LLMResource(base_url=url, api_key="sk-key-SECRET3", model="m")
    with caplog.at_level(logging.DEBUG):
        session = open_session(llm, store, run_id="r1", config=LLMConfig(), log=log)
    text = "\n".join(logs) + caplog.text + repr(llm.endpoint())
    assert session is not None and "llm.example" in text
    for secret in ("SECRET", "alice"):
        assert secret not in text


# ---------------------------------------------------------------- per-feed deadline


def _fetcher(**overrides) -> HttpFeedFetcher:
    base = {"timeout_seconds": 5.0, "max_retries": 10, "per_host_delay_seconds": 0.0,
            "allow_private_addresses": True, "feed_deadline_seconds": 1.5}  # fmt: skip
    return HttpFeedFetcher(FetchSettings(**{**base, **overrides}), backoff_seconds=0.2)


def test_a_slow_feed_cannot_hold_the_fetch_past_its_deadline():
    with local_http_server() as srv:
        # each answer takes 0.4 s and says "try again in 0.5 s"; with 10 retries that was ~9 s
        srv.route("/slow.xml", Response(status=503, headers={"Retry-After": "0.5"}, delay=0.4))
        started = time.monotonic()
        result = _fetcher().fetch(FetchRequest("slow", srv.url("/slow.xml")))
        took = time.monotonic() - started
    assert result.fetch_status == "error" and "feed_deadline_seconds" in result.error, result.error
    assert took < 2.5


def test_slow_dns_is_bounded_by_the_deadline():
    release = threading.Event()

    def hanging_resolver(host: str) -> list[str]:
        release.wait(30)
        return ["127.0.0.1"]

    fetcher = HttpFeedFetcher(
        FetchSettings(feed_deadline_seconds=0.5, allow_private_addresses=True, per_host_delay_seconds=0),
        resolver=hanging_resolver,
    )
    started = time.monotonic()
    result = fetcher.fetch(FetchRequest("dns", "http://slow-dns.example/feed.xml"))
    release.set()
    assert result.fetch_status == "error" and "cannot resolve slow-dns.example in time" in result.error
    assert time.monotonic() - started < 2.0


def test_a_long_retry_after_that_would_pass_the_deadline_is_not_waited_for():
    with local_http_server() as srv:
        srv.route("/later.xml", Response(status=429, headers={"Retry-After": "5"}))
        started = time.monotonic()
        result = _fetcher(max_retry_after_seconds=60).fetch(FetchRequest("later", srv.url("/later.xml")))
    assert "feed_deadline_seconds" in result.error and time.monotonic() - started < 1.0


def test_settings_file_paths_in_messages_are_absolute(tmp_path):
    path = tmp_path / "production.yaml"
    path.write_text("llm:\n  timeout_seconds: -1\n")
    with pytest.raises(SettingsError, match=str(Path(path))):
        load_settings(path)
