"""HTTP servers for the tests' stand-ins (Vertex AI, Cloud Storage, Google's token endpoint, webhook receivers):
on a free port of 127.0.0.1, each serving from a thread of its own until stopped."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# How often serve_forever looks whether it is to stop. At its default of half a second, stopping a stand-in
# cost each test that used one up to that (some 40 s of the suite).
SHUTDOWN_POLL_SECONDS = 0.02


def serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS}, daemon=True).start()
    return httpd


def stop(httpd: ThreadingHTTPServer) -> None:
    httpd.shutdown()
    httpd.server_close()
