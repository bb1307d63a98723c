"""Django's live server for the tests, answering on a kept-alive connection at once.

It writes a response's headers and its body in two sends. Without TCP_NODELAY, Nagle's algorithm holds the
body back until the client has acknowledged the headers, and clients delay that acknowledgement by up to
40 ms: every request after a connection's first took 44 ms instead of 2 (Chromium in the browser tests,
requests sessions in the fuzz and the CLI). Gunicorn, which serves Flowsite in production, sets it already.
"""

from __future__ import annotations

import socket
from typing import Any

from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread


class PromptWSGIServer(ThreadedWSGIServer):
    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


LiveServerThread.server_class = PromptWSGIServer
