"""A Google OAuth token endpoint for service-account keys whose `token_uri` points here.

It answers the key's signed JWT with a token naming the key's account (`token-for-<client_email>`),
so a fake API can tell from a request's Authorization header whose credentials it carried.
"""

from __future__ import annotations

import base64
import json
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from tests import local_http


class FakeOAuth:
    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                claims = form["assertion"][0].split(".")[1]
                account = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["iss"]
                data = json.dumps({"access_token": f"token-for-{account}", "expires_in": 3600, "token_type": "Bearer"})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data.encode())

        self.httpd = local_http.serve(Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"

    def stop(self) -> None:
        local_http.stop(self.httpd)

    def service_account_key(self, email: str) -> str:
        """A service-account key (JSON) for `email`, with a fresh RSA key, whose tokens come from here."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return json.dumps({
            "type": "service_account", "project_id": email.split("@")[1].split(".")[0], "private_key_id": "1",
            "private_key": pem, "client_email": email, "client_id": "1", "token_uri": self.url,
        })  # fmt: skip
