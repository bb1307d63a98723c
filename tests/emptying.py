"""Transactional tests end by emptying the tables that hold rows, not by Django's flush.

Django's flush empties every table, content types and permissions included, then has post_migrate
create those again: 50 ms a test on SQLite and 430 ms on PostgreSQL, where TRUNCATE of 40 tables costs
most of it. About 600 of our tests are transactional (they start real processes, which must see committed
rows), so flushing was minutes of the suite. Here one query finds the tables that hold rows and one
transaction DELETEs from them (the foreign keys are deferred, so in any order), and the content types,
permissions and migration history, which only migrations change, stay as post_migrate made them. A test
that changed those (one that migrates) gets Django's flush.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, transaction
from django.test import TransactionTestCase

KEPT_TABLES = ("django_migrations", "django_content_type", "auth_permission")

_made_by_migrations: dict[str, list[tuple[Any, ...]]] = {}


def remember_what_migrations_made(alias: str) -> None:
    _made_by_migrations[alias] = _kept_rows(alias)


def _kept_rows(alias: str) -> list[tuple[Any, ...]]:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT id, app_label, model FROM django_content_type ORDER BY id")
        rows = cursor.fetchall()
        cursor.execute("SELECT id, content_type_id, codename FROM auth_permission ORDER BY id")
        rows += cursor.fetchall()
        cursor.execute("SELECT COUNT(*) FROM django_migrations")
        return rows + cursor.fetchall()


def empty_written_tables(alias: str) -> bool:
    """Empty every table but those migrations fill, unless a test changed those; whether it did."""
    if alias not in _made_by_migrations or _kept_rows(alias) != _made_by_migrations[alias]:
        return False
    connection = connections[alias]
    quote = connection.ops.quote_name
    tables = [
        table
        for table in connection.introspection.django_table_names(only_existing=True, include_views=False)
        if table not in KEPT_TABLES
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            " UNION ALL ".join(
                f"SELECT {i} FROM (SELECT 1 FROM {quote(t)} LIMIT 1) AS x{i}" for i, t in enumerate(tables)
            )
        )
        written = [tables[i] for (i,) in cursor.fetchall()]
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        for table in written:
            cursor.execute(f"DELETE FROM {quote(table)}")
    return True


_django_teardown = TransactionTestCase._fixture_teardown


def _fixture_teardown(self: TransactionTestCase) -> None:
    if self.available_apps is not None or self.serialized_rollback:
        return _django_teardown(self)
    aliases = self._databases_names(include_mirrors=False)
    if not all(empty_written_tables(alias) for alias in aliases):
        _django_teardown(self)
        # Post_migrate has made them again, maybe with other ids: the tests after this one compare with these.
        for alias in aliases:
            remember_what_migrations_made(alias)


TransactionTestCase._fixture_teardown = _fixture_teardown  # type: ignore[method-assign]
