"""A local OpenAI-compatible chat-completions server for tests (real HTTP on 127.0.0.1).

By default it answers like a well-behaved model: for the article-summary prompt it returns a valid
JSON summary for every ``id:`` in the prompt, for the newsletter-copy prompt valid subject lines.
Script failures with :meth:`OpenAIStubServer.script` (served in order before the default answer):

    with OpenAIStubServer() as srv:
        srv.script(Step(status=429, headers={"Retry-After": "2"}), Step(content="not json"))
        ...  # client at srv.base_url
        assert len(srv.requests) == 3
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Step:
    """One scripted reply: an HTTP error (``status`` != 200 with an OpenAI-style error body), a
    200 with ``content`` as the message text, or a 200 whose whole ``raw_body`` is given."""

    status: int = 200
    content: str | None = None
    raw_body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    usage: tuple[int, int] | None = None


def default_answer(body: dict) -> str:
    """A valid JSON answer for the pipeline's prompts (content of the assistant message).

    The data comes from the fenced JSON array of the user message
    (:func:`bitbybit_assets.enhance.prompts.unfence`)."""
    from bitbybit_assets.enhance.prompts import unfence

    messages = body.get("messages") or []
    system = next((m["content"] for m in messages if m.get("role") == "system"), "")
    user = next((m["content"] for m in messages if m.get("role") == "user"), "")
    try:
        items = unfence(user)
    except ValueError:
        items = []
    if "subject lines" in system:
        titles = [str(s.get("title")) for s in items if s.get("title")] or ["Today in tech"]
        return json.dumps(
            {
                "subject_lines": [
                    f"{titles[0][:50]} and more",
                    f"Today: {titles[0][:55]}",
                    "Your daily tech brief",
                ],
                "preheader": f"Also inside: {titles[-1][:70]}",
                "intro": "Here are today's most important stories for engineers. Each one is summarised below.",
            }
        )
    articles = []
    for item in items:
        if not item.get("id"):
            continue
        title = item.get("title") or "the story"
        articles.append(
            {
                "id": str(item["id"]).strip(),
                "summary": f"Stub summary of {title}. It explains what happened and why engineers should care.",
                "tags": ["stub", "testing", "llm"],
            }
        )
    return json.dumps({"articles": articles})


class OpenAIStubServer:
    """Threaded HTTP server speaking enough of the OpenAI API for ``openai.OpenAI``."""

    def __init__(self, answer: Callable[[dict], str] = default_answer, model: str = "stub-model") -> None:
        self.answer = answer
        self.model = model
        self.requests: list[dict] = []
        self._steps: list[Step] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ control

    def script(self, *steps: Step) -> None:
        with self._lock:
            self._steps.extend(steps)

    def _next_step(self) -> Step | None:
        with self._lock:
            return self._steps.pop(0) if self._steps else None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def chat_requests(self) -> list[dict]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    def start(self) -> OpenAIStubServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    body = {
                        "object": "list",
                        "data": [{"id": server.model, "object": "model", "owned_by": "test"}],
                    }
                    self._send(200, json.dumps(body).encode())
                else:
                    self._send(404, b'{"error": {"message": "not found"}}')

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {}
                with server._lock:
                    server.requests.append(
                        {
                            "path": self.path,
                            "body": body,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                        }
                    )
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, b'{"error": {"message": "not found"}}')
                    return
                step = server._next_step() or Step()
                if step.delay:
                    time.sleep(step.delay)
                if step.status != 200:
                    err = {
                        "error": {"message": f"scripted {step.status}", "type": "test", "code": step.status}
                    }
                    self._send(step.status, json.dumps(err).encode(), step.headers)
                    return
                if step.raw_body is not None:
                    self._send(200, step.raw_body, step.headers)
                    return
                content = step.content if step.content is not None else server.answer(body)
                prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages") or [])
                p_tok, c_tok = step.usage or (max(1, prompt_chars // 4), max(1, len(content) // 4))
                reply = {
                    "id": f"chatcmpl-{len(server.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model") or server.model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": p_tok,
                        "completion_tokens": c_tok,
                        "total_tokens": p_tok + c_tok,
                    },
                }
                self._send(200, json.dumps(reply).encode(), step.headers)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OpenAIStubServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
