"""The portal's pages: one shell that the dashboard's JavaScript fills from the REST API."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@login_required
@ensure_csrf_cookie
def shell(request: HttpRequest, **kwargs: object) -> HttpResponse:
    """Every dashboard URL: the page itself is drawn in the browser, from the API only."""
    return render(request, "dashboard/shell.html")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "dashboard/404.html", status=404)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "dashboard/400.html", status=400)
