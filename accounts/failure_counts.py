"""Counts of failures (wrong tokens, usernames that match nobody) in fixed windows, in the default cache.

Per web process (the default cache is local memory), which bounds a guesser all the same.
"""

from __future__ import annotations

from django.core.cache import cache


def failures(key: str) -> int:
    return cache.get(key, 0)


def count_failure(key: str, window_seconds: int) -> None:
    # add() starts the window; incr() counts within it without extending it.
    if cache.add(key, 1, window_seconds):
        return
    try:
        cache.incr(key)
    except ValueError:  # the window ended between the two calls: this failure starts the next
        cache.add(key, 1, window_seconds)
