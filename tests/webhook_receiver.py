"""A stand-in for a notification webhook, served on 127.0.0.1 by the tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    status: int = 200
    delay_s: float = 0.0


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """Replies to requests with `script` in order, then with its last entry."""

    script: list[Reply]
    url: str = ""
    requests: list[ReceivedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_reply(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            index = len(self.requests)
            self.requests.append(request)
        return self.script[min(index, len(self.script) - 1)]


@contextmanager
def webhook_receiver(*script: Reply) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(script=list(script) or [Reply()])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            reply = receiver.next_reply(
                ReceivedRequest(self.path, dict(self.headers.items()), body)
            )
            if reply.delay_s:
                time.sleep(reply.delay_s)
            payload = b'{"ok": true}' if reply.status < 400 else b'{"error": "no"}'
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and hung up first

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    receiver.url = f"http://{host}:{port}/hooks/helpdesk"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
