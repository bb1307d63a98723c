"""The address a request comes from, for throttling sign-in and token guessing.

Behind the TLS proxy (FLOWSITE_BEHIND_TLS_PROXY) every request arrives from the proxy, so throttling
by REMOTE_ADDR would count all clients as one: a guesser would lock everyone out. The proxy appends the
address it saw to X-Forwarded-For; only that last entry is trusted, since a client can send the header
with any earlier entries it likes.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    if settings.FLOWSITE_BEHIND_TLS_PROXY:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if hops[-1]:
            return hops[-1][:45]  # the longest textual IPv6 address
    return request.META.get("REMOTE_ADDR", "")
