from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .client_address import client_address
from .failure_counts import count_failure, failures
from .models import ApiToken

# Guessing tokens: after this many invalid ones from an address, it waits. Per web process (the
# default cache), which bounds a guesser all the same.
TOKEN_FAILURE_LIMIT = 20
TOKEN_COOLOFF_SECONDS = 300


class TokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <key>` or `Authorization: Bearer <key>` with a personal API token."""

    keywords = ("token", "bearer")

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode("latin-1").lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("the Authorization header must be 'Token <key>' or 'Bearer <key>'")
        guesses = f"flowsite:token-failures:{client_address(request)}"
        if failures(guesses) >= TOKEN_FAILURE_LIMIT:
            # DRF adds "Expected available in N seconds." and the Retry-After header from the wait.
            raise exceptions.Throttled(TOKEN_COOLOFF_SECONDS, "too many invalid tokens from your address.")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            key = ""
        token = ApiToken.authenticate(key) if key else None
        if token is None or not token.user.is_active:
            count_failure(guesses, TOKEN_COOLOFF_SECONDS)
            raise exceptions.AuthenticationFailed("invalid or revoked token")
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Token realm="api"'


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>` or `Bearer <key>`, with a key from POST /api/tokens/.",
        }
