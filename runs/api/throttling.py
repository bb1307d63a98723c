"""Guessing usernames through "add a member" meets a limit.

An owner adding a member learns whether an active user has that name; a user that tries many names that
match none waits. The count is checked before the lookup, so a guesser who has reached the limit learns
nothing more, not even from a right guess. Per web process (the default cache), like token guessing.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions

from accounts.failure_counts import count_failure, failures

FAILED_LOOKUP_LIMIT = 10
FAILED_LOOKUP_COOLOFF_SECONDS = 600


def _key(user: Any) -> str:
    return f"flowsite:member-lookup-failures:{user.pk}"


class TooManyFailedLookups(exceptions.Throttled):
    extra_detail_singular = "Try again in {wait} second."
    extra_detail_plural = "Try again in {wait} seconds."


def refuse_if_guessing(user: Any) -> None:
    """A 429 once `user` has tried FAILED_LOOKUP_LIMIT usernames that matched no active user."""
    if failures(_key(user)) >= FAILED_LOOKUP_LIMIT:
        raise TooManyFailedLookups(FAILED_LOOKUP_COOLOFF_SECONDS, "too many usernames that match no active user.")


def count_failed_lookup(user: Any) -> None:
    count_failure(_key(user), FAILED_LOOKUP_COOLOFF_SECONDS)
