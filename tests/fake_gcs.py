"""A small Cloud Storage JSON API over plain HTTP, for the unmodified google-cloud-storage client.

Enough for artifacts: multipart upload, object metadata, download (with Range), list by prefix and
delete. Point a client at it with `client_options={"api_endpoint": fake.url}` and anonymous
credentials, or a process (a job's runner) with STORAGE_EMULATOR_HOST=fake.url. Objects live in
memory; `requests` records each call with the Authorization header it carried.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

from tests import local_http

OBJECT = re.compile(r"^/(?:download/)?storage/v1/b/([^/]+)/o/(.+)$")
OBJECTS = re.compile(r"^/(?:upload/)?storage/v1/b/([^/]+)/o$")


class FakeGCS:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server._handle(self, "GET")

            def do_POST(self) -> None:
                server._handle(self, "POST")

            def do_DELETE(self) -> None:
                server._handle(self, "DELETE")

        self.httpd = local_http.serve(Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        local_http.stop(self.httpd)

    def uris(self) -> list[str]:
        return sorted(f"gs://{bucket}/{name}" for bucket, name in list(self.objects))

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(handler.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        self.requests.append((method, url.path, handler.headers.get("Authorization")))
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        one = OBJECT.match(url.path)
        many = OBJECTS.match(url.path)
        if one and method == "GET":
            bucket, name = one.group(1), unquote(one.group(2))
            data = self.objects.get((bucket, name))
            if data is None:
                return self._json(handler, 404, _error(404, f"No such object: {bucket}/{name}"))
            if query.get("alt") == "media":
                return self._media(handler, data)
            return self._json(handler, 200, _resource(bucket, name, data))
        if one and method == "DELETE":
            bucket, name = one.group(1), unquote(one.group(2))
            with self._lock:
                found = self.objects.pop((bucket, name), None)
            if found is None:
                return self._json(handler, 404, _error(404, f"No such object: {bucket}/{name}"))
            return self._send(handler, 204, b"", "application/json")
        if many and method == "POST" and query.get("uploadType") == "multipart":
            bucket = many.group(1)
            metadata, data = _multipart(handler.headers.get("Content-Type", ""), body)
            name = query.get("name") or metadata["name"]
            with self._lock:
                self.objects[(bucket, name)] = data
            return self._json(handler, 200, _resource(bucket, name, data))
        if many and method == "GET":
            bucket, prefix = many.group(1), query.get("prefix", "")
            items = [
                _resource(b, n, d) for (b, n), d in sorted(self.objects.items()) if b == bucket and n.startswith(prefix)
            ]
            return self._json(handler, 200, {"kind": "storage#objects", "items": items})
        return self._json(handler, 400, _error(400, f"this fake does not serve {method} {url.path}?{url.query}"))

    def _media(self, handler: BaseHTTPRequestHandler, data: bytes) -> None:
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", handler.headers.get("Range") or "")
        if wanted is None:
            return self._send(handler, 200, data, "application/octet-stream")
        start = int(wanted.group(1))
        end = min(int(wanted.group(2)) if wanted.group(2) else len(data) - 1, len(data) - 1)
        part = data[start : end + 1]
        return self._send(
            handler, 206, part, "application/octet-stream", {"Content-Range": f"bytes {start}-{end}/{len(data)}"}
        )

    def _json(self, handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        self._send(handler, status, json.dumps(payload).encode(), "application/json")

    def _send(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        data: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)


def _resource(bucket: str, name: str, data: bytes) -> dict[str, Any]:
    return {
        "kind": "storage#object", "id": f"{bucket}/{name}/1", "bucket": bucket, "name": name, "generation": "1",
        "metageneration": "1", "size": str(len(data)), "contentType": "application/octet-stream",
        "selfLink": f"/storage/v1/b/{bucket}/o/{quote(name, safe='')}",
    }  # fmt: skip


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes]:
    """The metadata part and the data part of a multipart/related upload."""
    boundary = re.search(r'boundary="?([^";]+)"?', content_type)
    if boundary is None:
        raise ValueError(f"not a multipart body: {content_type!r}")
    marker = b"--" + boundary.group(1).encode()
    parts = [part for part in body.split(marker) if part.strip() not in (b"", b"--")]
    payloads = [part.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for part in parts]
    return json.loads(payloads[0]), payloads[1]


def _error(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "errors": [{"message": message}]}}
