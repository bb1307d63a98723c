"""Run parameters handed to the steps that ask for them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .signature import select_kwargs


class Context:
    """Pipeline parameters, read as attributes or items.

    Steps receive only the parameters their signature names, so one context can serve
    steps that each need a different part of it.
    """

    def __init__(self, **params: Any) -> None:
        object.__setattr__(self, "_params", dict(params))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._params[name]
        except KeyError:
            raise AttributeError(f"context has no parameter {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._params[name] = value

    def __getitem__(self, name: str) -> Any:
        return self._params[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self._params[name] = value

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Context) and other._params == self._params

    def __repr__(self) -> str:
        return f"Context({', '.join(f'{k}={v!r}' for k, v in self._params.items())})"

    def get(self, name: str, default: Any = None) -> Any:
        return self._params.get(name, default)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._params)

    def inject_params(self, func: Callable[..., Any]) -> dict[str, Any]:
        """The parameters that `func`'s signature names, and no others."""
        return select_kwargs(func, self._params)
