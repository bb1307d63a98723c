"""Stack secrets at rest: Fernet tokens under keys from the environment, rotatable.

FLOWSITE_SECRET_KEYS lists Fernet keys, newest first: new values are encrypted with the first, and
any of them decrypts, so a key is rotated by putting a new one in front, running
`manage.py reencrypt_secrets`, then dropping the old one.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def cipher() -> MultiFernet:
    return _cipher(tuple(settings.FLOWSITE_SECRET_KEYS))


def encrypt(values: dict[str, str]) -> str:
    return cipher().encrypt(json.dumps(values, sort_keys=True).encode()).decode("ascii")


def decrypt(token: str) -> dict[str, str]:
    try:
        return json.loads(cipher().decrypt(token.encode("ascii")))
    except InvalidToken:
        raise ImproperlyConfigured(
            "stack secrets cannot be decrypted with any key in FLOWSITE_SECRET_KEYS: the key they were "
            "encrypted with is missing"
        ) from None


def reencrypt(token: str) -> str:
    """The same secrets under the newest key."""
    return cipher().rotate(token.encode("ascii")).decode("ascii")


class EncryptedSecretsField(models.TextField):
    """A dict of names to values, stored as one Fernet token; the database never sees a value."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> dict[str, str]:
        return decrypt(value) if value else {}

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            return decrypt(value) if value else {}
        return value

    def get_prep_value(self, value: Any) -> str:
        return encrypt(dict(value or {}))
