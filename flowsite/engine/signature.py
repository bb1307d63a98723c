"""Cached facts about callables' signatures, read once per function."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=4096)
def parameters(func: Callable[..., Any]) -> tuple[inspect.Parameter, ...]:
    """The parameters a caller fills, without self and cls."""
    return tuple(p for p in inspect.signature(func).parameters.values() if p.name not in ("self", "cls"))


@lru_cache(maxsize=4096)
def keyword_names(func: Callable[..., Any]) -> frozenset[str] | None:
    """Names `func` accepts by keyword, or None when it takes **kwargs and so accepts any."""
    params = parameters(func)
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def select_kwargs(func: Callable[..., Any], values: dict[str, Any]) -> dict[str, Any]:
    """The entries of `values` that `func` names in its signature."""
    names = keyword_names(func)
    if names is None:
        names = frozenset(p.name for p in parameters(func) if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    return {name: value for name, value in values.items() if name in names}


def accepted_kwargs(func: Callable[..., Any], values: dict[str, Any]) -> dict[str, Any]:
    """The entries of `values` that a call to `func` can take: all of them if it has **kwargs."""
    names = keyword_names(func)
    if names is None:
        return values
    return {name: value for name, value in values.items() if name in names}
