"""A real HTTP receiver for notification tests: a server on 127.0.0.1 in a thread of the test process,
answering each request as the test scripts it and keeping every request it got."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests import local_http


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """`answer(request, n)` gives the status for the n-th request (from 1); default 200. `hold`, when set,
    keeps each request waiting until it is released (a receiver slower than any timeout)."""

    def __init__(self, answer: Callable[[Received, int], int] | None = None) -> None:
        self.answer = answer or (lambda request, n: 200)
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.release.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver.lock:
                    receiver.requests.append(request)
                    n = len(receiver.requests)
                receiver.release.wait(60)
                code = receiver.answer(request, n)
                reply = json.dumps({"n": n, "status": code}).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up waiting: what a slow receiver gets

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = local_http.serve(Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def hold(self) -> None:
        self.release.clear()

    def close(self) -> None:
        self.release.set()
        local_http.stop(self.server)

    def count(self) -> int:
        with self.lock:
            return len(self.requests)
