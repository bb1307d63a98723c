"""The API's schema and its interactive docs, which a signed-out browser meets as the sign-in page.

Both need a signed-in user like every endpoint. A person who opens them in a browser is sent to sign in
and brought back, rather than shown a bare 401; an API client keeps its 401 in the API's error shape.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseBase
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import exceptions


class _SignInFirst:
    request: Any

    def wants_a_page(self) -> bool:
        return True

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        if isinstance(exc, exceptions.NotAuthenticated) and self.wants_a_page():
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)  # type: ignore[misc]


class SchemaView(_SignInFirst, SpectacularAPIView):
    def wants_a_page(self) -> bool:
        # Browsers ask for HTML first; API clients ask for JSON, YAML or anything.
        return "text/html" in self.request.META.get("HTTP_ACCEPT", "")


class DocsView(_SignInFirst, SpectacularSwaggerSplitView):
    """Swagger UI, which serves its start-up script as a file: the Content-Security-Policy allows no inline script."""
