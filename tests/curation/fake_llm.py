"""A local fake LLM server speaking the OpenAI chat and Anthropic Messages APIs, with injectable faults.

Replies are a pure function of the request (so a re-run must ask the same questions and get the same answers):
the Instructor gets a JSON list of records about its topic, the Verifier and Evaluator get scores derived from
a hash of the text. Faults (``429``, ``500``, ``timeout``, ``truncated``, ``nonjson``) are taken from a queue,
one per request. Every request and every answered (paid) request is recorded, so tests can count calls.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


def _h(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def fake_reply(messages: list[dict[str, Any]], seed: Any = None) -> str:
    user = str(messages[-1]["content"]) if messages else ""
    first = next((str(m["content"]) for m in messages if m["role"] == "user"), "")
    if "Score this instruction-following example" in first or "Grade the answer" in first:
        if "unscorable" in first and len(messages) <= 2:
            return "I think it is quite good overall."
        base = _h(first)
        # about half the records pass HoneyBee's rule (mean >= 95, each >= 90)
        lo = 96 if base % 2 == 0 else 70
        return json.dumps(
            {
                "accuracy": lo + base % 4,
                "relevance": 97,
                "completeness": lo + (base >> 3) % 4,
                "reasonableness": 98,
            }
        )
    m = re.search(r"topic: (.+?)\.\n|about \"(.+?)\"", first)
    topic = (m.group(1) or m.group(2)) if m else "materials"
    if "garbled" in topic and "could not be used" not in user:
        return "Sure! Here are some examples about " + topic + " {not json"
    k = _h(f"{first}|{seed}") % 1000
    return (
        "```json\n"
        + json.dumps(
            [
                {
                    "instruction": f"Explain {topic} (case {k}-{i}).",
                    "input": "" if i % 2 else f"context {k}",
                    "output": f"A complete answer about {topic}, number {i}.",
                }
                for i in range(2)
            ]
        )
        + "\n```"
    )


class FakeLLM:
    """``with FakeLLM() as srv: srv.url`` -> ``http://127.0.0.1:<port>``; ``srv.faults.extend([...])``."""

    def __init__(self, fault_timeout_s: float = 3.0) -> None:
        self.faults: list[str] = []
        self.requests: list[str] = []  # request body digests, every request
        self.paid: list[str] = []  # body digests of requests answered 200 with a usable body
        self.keys: list[str] = []  # Authorization / x-api-key header values seen
        self.kill_pid: int | None = None  # SIGKILL this process ...
        self.kill_after: int | None = None  # ... when a request arrives after this many paid answers
        self.fault_timeout_s = fault_timeout_s
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def _send(
                self,
                code: int,
                body: bytes,
                ctype: str = "application/json",
                length: int | None = None,
                headers: dict[str, str] | None = None,
            ) -> None:
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body) if length is None else length))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body)
                    self.wfile.flush()
                except (
                    BrokenPipeError,
                    ConnectionResetError,
                ):  # the client timed out first: that is the test
                    self.close_connection = True

            def do_GET(self) -> None:
                if self.path.split("?")[0].rstrip("/").endswith("/models"):
                    self._send(
                        200,
                        json.dumps(
                            {
                                "object": "list",
                                "data": [
                                    {
                                        "id": "fake",
                                        "object": "model",
                                        "type": "model",
                                        "display_name": "fake",
                                        "created_at": "2024-01-01T00:00:00Z",
                                    }
                                ],
                                "has_more": False,
                                "first_id": "fake",
                                "last_id": "fake",
                            }
                        ).encode(),
                    )
                else:
                    self._send(404, b'{"error": {"message": "not found"}}')

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                digest = hashlib.sha256(raw).hexdigest()
                anthropic = self.path.rstrip("/").endswith("/messages")
                with owner.lock:
                    owner.requests.append(digest)
                    key = self.headers.get("x-api-key") or self.headers.get("Authorization")
                    if key:
                        owner.keys.append(key)
                    if (
                        owner.kill_pid
                        and owner.kill_after is not None
                        and len(owner.paid) >= owner.kill_after
                    ):
                        os.kill(owner.kill_pid, signal.SIGKILL)
                        owner.kill_pid = None
                        self.close_connection = True
                        return  # never answered: the client is dead
                    fault = owner.faults.pop(0) if owner.faults else None
                if fault == "429":
                    return self._send(
                        429,
                        b'{"error": {"message": "slow down", "type": "rate_limit_error"}}',
                        headers={"retry-after": "0"},
                    )
                if fault == "400":
                    return self._send(
                        400, b'{"error": {"message": "bad request", "type": "invalid_request_error"}}'
                    )
                if fault == "500":
                    return self._send(500, b'{"error": {"message": "boom", "type": "server_error"}}')
                if fault == "timeout":
                    time.sleep(owner.fault_timeout_s)
                    return self._send(500, b'{"error": {"message": "too late"}}')
                if fault == "nonjson":
                    return self._send(200, b"<html>Bad gateway</html>", ctype="text/html")
                body = json.loads(raw)
                text = fake_reply(body.get("messages", []), body.get("seed"))
                if anthropic:
                    out = {
                        "id": "msg_1",
                        "type": "message",
                        "role": "assistant",
                        "model": body["model"],
                        "content": [{"type": "text", "text": text}],
                        "stop_reason": "end_turn",
                        "stop_sequence": None,
                        "usage": {"input_tokens": 10, "output_tokens": 5},
                    }
                else:
                    out = {
                        "id": "c1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                    }
                data = json.dumps(out).encode()
                if fault == "truncated":
                    self._send(200, data[: len(data) // 2], length=len(data))
                    self.close_connection = True
                    return
                with owner.lock:
                    owner.paid.append(digest)
                self._send(200, data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *a: object) -> None:
        self.server.shutdown()
        self.server.server_close()
