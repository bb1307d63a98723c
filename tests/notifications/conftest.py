"""Rules, runs that end, and a real HTTP receiver to send to; the API tests' users and clients (imported)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from notifications.models import NotificationRule
from tests.api.conftest import anonymous, api, as_, member, other_project, outsider, viewer  # noqa: F401
from tests.factories import make_project

from .receiver import Receiver


@pytest.fixture
def project(owner: Any, member: Any, viewer: Any) -> Any:  # noqa: F811
    return make_project("ml", name="Machine learning", members={"owner": owner, "member": member, "viewer": viewer})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_rule(project: Any, url: str, events: list[str] | None = None, **fields: Any) -> NotificationRule:
    return NotificationRule.objects.create(
        project=project, name=fields.pop("name", "ops webhook"), channel="webhook", url=url,
        events=events or ["failed", "dead", "cancelled", "completed"], secrets={"signing_secret": new_secret()},
        **fields,
    )  # fmt: skip
