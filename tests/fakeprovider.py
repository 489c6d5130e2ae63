"""An OpenAI-compatible chat-completions server on 127.0.0.1 for tests of the real provider path.

It answers from a queue of planned replies (text or tool calls, streamed or not), can inject
faults (status codes with headers, hangs, malformed bodies, cut streams), and records every
request it received so tests can assert what reached the provider.
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
class Reply:
    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    #: The error message of a status other than 200 (default "fake error STATUS").
    message: str = ""
    #: "malformed" sends broken JSON; "cut" ends a stream midway without [DONE].
    fault: str | None = None


def text(content: str) -> Reply:
    return Reply(content=content)


def tool_call(name: str, **arguments: Any) -> Reply:
    return Reply(tool_calls=[{"name": name, "arguments": arguments}])


class FakeProvider:
    """Start with `with FakeProvider() as fp:`; `fp.api_base` is the URL to give a crew."""

    def __init__(self, replies: list[Reply] | None = None,
                 responder: Callable[[dict[str, Any]], Reply] | None = None) -> None:
        self.replies: list[Reply] = list(replies or [])
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._ids = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # model listing, for clients that ask
                body = json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]})
                self._send(200, body.encode(), {"Content-Type": "application/json"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    payload = json.loads(raw or b"{}")
                except ValueError:
                    payload = {"_raw": raw.decode(errors="replace")}
                with provider._lock:
                    provider.requests.append(payload)
                    provider.headers.append({k.lower(): v for k, v in self.headers.items()})
                reply = provider._next(payload)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.status != 200:
                    message = reply.message or f"fake error {reply.status}"
                    body = json.dumps({"error": {"message": message,
                                                 "type": "fake", "code": reply.status}})
                    self._send(reply.status, body.encode(),
                               {"Content-Type": "application/json", **reply.headers})
                    return
                if reply.fault == "malformed":
                    self._send(200, b'{"choices": [ {"message": ', {"Content-Type": "application/json"})
                    return
                if payload.get("stream"):
                    self._stream(payload, reply)
                else:
                    body = json.dumps(provider._completion(payload, reply)).encode()
                    self._send(200, body, {"Content-Type": "application/json"})

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _stream(self, payload: dict[str, Any], reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                chunks = provider._chunks(payload, reply)
                if reply.fault == "cut":
                    chunks = chunks[: max(1, len(chunks) // 2)]
                for chunk in chunks:
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                if reply.fault != "cut":
                    self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _next(self, payload: dict[str, Any]) -> Reply:
        with self._lock:
            if self.replies:
                return self.replies.pop(0)
        if self.responder:
            return self.responder(payload)
        return Reply(content="All done. TERMINATE")

    def _id(self) -> str:
        with self._lock:
            self._ids += 1
            return f"fake-{self._ids}"

    def _completion(self, payload: dict[str, Any], reply: Reply) -> dict[str, Any]:
        calls = [
            {"id": f"call_{self._id()}", "type": "function",
             "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
            for c in reply.tool_calls
        ]
        message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
        if calls:
            message["tool_calls"] = calls
        prompt = sum(len(str(m.get("content") or "")) for m in payload.get("messages", [])) // 4
        return {
            "id": self._id(), "object": "chat.completion", "created": int(time.time()),
            "model": payload.get("model", "fake"),
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {"prompt_tokens": prompt + 1, "completion_tokens": 7,
                      "total_tokens": prompt + 8},
        }

    def _chunks(self, payload: dict[str, Any], reply: Reply) -> list[dict[str, Any]]:
        cid, model, created = self._id(), payload.get("model", "fake"), int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"id": cid, "object": "chat.completion.chunk", "created": created,
                    "model": model, "choices": [{"index": 0, "delta": delta,
                                                 "finish_reason": finish}]}

        out = [chunk({"role": "assistant", "content": ""})]
        words = reply.content.split(" ") if reply.content else []
        for i, w in enumerate(words):
            out.append(chunk({"content": w if i == 0 else " " + w}))
        for i, c in enumerate(reply.tool_calls):
            out.append(chunk({"tool_calls": [{
                "index": i, "id": f"call_{self._id()}", "type": "function",
                "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}]}))
        out.append(chunk({}, "tool_calls" if reply.tool_calls else "stop"))
        prompt = sum(len(str(m.get("content") or "")) for m in payload.get("messages", [])) // 4
        usage = chunk({})
        usage["choices"] = []
        usage["usage"] = {"prompt_tokens": prompt + 1, "completion_tokens": len(words) + 1,
                          "total_tokens": prompt + len(words) + 2}
        out.append(usage)
        return out
