"""Re-encrypt every stack's secrets with the newest key of FLOWSITE_SECRET_KEYS (key rotation)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from stacks.encryption import reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt stack secrets with the first key of FLOWSITE_SECRET_KEYS. To rotate: put a new key first, "
        "run this, then remove the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        with transaction.atomic(), connection.cursor() as cursor:
            # Token to token, without decoding the secrets into this process's objects.
            cursor.execute("SELECT id, secrets FROM stacks_stack")
            for pk, token in cursor.fetchall():
                if token:
                    cursor.execute("UPDATE stacks_stack SET secrets = %s WHERE id = %s", [reencrypt(token), pk])
                    count += 1
        self.stdout.write(f"re-encrypted the secrets of {count} stack(s) with the newest key")
