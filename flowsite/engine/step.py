"""The `@step` decorator and the `Step` it produces."""

from __future__ import annotations

import functools
import hashlib
import inspect
import marshal
import textwrap
from collections.abc import Callable, Iterable, Mapping
from typing import Any, overload

from .capacity import Capacity
from .fingerprint import Unfingerprintable, digest
from .resources import ResourceConfig

CacheKeyFunction = Callable[[dict[str, Any], dict[str, Any]], str]
CacheSetting = bool | str | CacheKeyFunction

_MAX_NAME_LENGTH = 200


def validate_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} name must be a non-empty string, not {name!r}")
    if len(name) > _MAX_NAME_LENGTH:
        raise ValueError(f"{what} name {name[:40]!r}... is longer than {_MAX_NAME_LENGTH} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValueError(f"{what} name {name!r} contains control characters")
    return name


def _names(value: str | Iterable[str] | None, what: str, step_name: str) -> list[str]:
    if value is None:
        return []
    names = [value] if isinstance(value, str) else list(value)
    for name in names:
        validate_name(name, f"step {step_name!r}: {what}")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"step {step_name!r} lists {what} {duplicates[0]!r} more than once")
    return names


class Step:
    """A pipeline step: a function plus how to run it.

    A step with no declared outputs publishes its result under its own name, so
    `outputs` always names at least one value.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        name: str | None = None,
        inputs: str | Iterable[str] | None = None,
        outputs: str | Iterable[str] | None = None,
        cache: CacheSetting = True,
        retry: int = 0,
        retry_delay: float = 1.0,
        timeout: float | None = None,
        condition: Callable[..., Any] | None = None,
        execution_group: str | None = None,
        resources: ResourceConfig | Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        capacity: Capacity | Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(func):
            raise TypeError(f"a step wraps a function, not {func!r}")
        self.func = func
        self.name = validate_name(name if name is not None else func.__name__, "step")
        self.inputs = _names(inputs, "input", self.name)
        self.outputs = _names(outputs, "output", self.name) or [self.name]
        if not (cache is True or cache is False or cache == "input_hash" or callable(cache)):
            raise ValueError(
                f"step {self.name!r}: cache must be True, False, 'input_hash' or a function "
                f"(inputs, context_params) -> str, not {cache!r}"
            )
        self.cache = cache
        if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
            raise ValueError(f"step {self.name!r}: retry must be a whole number >= 0, not {retry!r}")
        self.retry = retry
        if isinstance(retry_delay, bool) or not isinstance(retry_delay, (int, float)) or retry_delay < 0:
            raise ValueError(f"step {self.name!r}: retry_delay must be a number of seconds >= 0, not {retry_delay!r}")
        self.retry_delay = float(retry_delay)
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
            raise ValueError(f"step {self.name!r}: timeout must be a number of seconds > 0, not {timeout!r}")
        self.timeout = timeout
        if condition is not None and not callable(condition):
            raise ValueError(f"step {self.name!r}: condition must be callable, not {condition!r}")
        self.condition = condition
        self.execution_group = (
            validate_name(execution_group, f"step {self.name!r}: execution group") if execution_group else None
        )
        self.resources = ResourceConfig(**resources) if isinstance(resources, Mapping) else resources
        self.tags = dict(tags or {})
        # On a remote stack, how this step's machines are obtained, where it asks otherwise than its stack.
        self.capacity = Capacity.from_value(capacity, f"step {self.name!r}")
        self._code_hash: str | None = None
        functools.update_wrapper(self, func, updated=())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Step({self.name!r}, inputs={self.inputs}, outputs={self.outputs})"

    def get_code_hash(self) -> str:
        """SHA-256 of the function's source: the same in every process that loads the same code."""
        if self._code_hash is None:
            self._code_hash = hashlib.sha256(_code_identity(self.func)).hexdigest()
        return self._code_hash

    def get_cache_key(self, inputs: dict[str, Any], context_params: dict[str, Any] | None = None) -> str | None:
        """The key this step's result is cached under, or None when it must not be cached.

        The default key covers the code, the inputs and the parameters, so changing any of
        them never returns a stale result. Inputs that cannot be fingerprinted make the
        step uncacheable rather than risk a wrong hit.
        """
        params = context_params or {}
        if self.cache is False:
            return None
        if callable(self.cache):
            key = self.cache(inputs, params)
            if not isinstance(key, str) or not key:
                raise ValueError(f"step {self.name!r}: the cache key function returned {key!r}, not a non-empty string")
            return digest("custom", self.name, key)
        try:
            if self.cache == "input_hash":
                return digest("input_hash", self.name, inputs, params)
            return digest("code", self.name, self.get_code_hash(), inputs, params)
        except Unfingerprintable:
            return None


# By code object: steps made by one factory share it, and inspect.getsource rescans the whole file
# each time (2,000 such steps took 134 ms). A module imported again has new code objects.
_identities: dict[Any, bytes] = {}


def _code_identity(func: Callable[..., Any]) -> bytes:
    code = getattr(func, "__code__", None)
    if code is not None and code in _identities:
        return _identities[code]
    try:
        identity = textwrap.dedent(inspect.getsource(func)).encode()
    except (OSError, TypeError):
        # No source file (an interactive session, a frozen app): compiled code is the next best identity.
        if code is None:
            return f"{type(func).__module__}.{type(func).__qualname__}".encode()
        identity = marshal.dumps(code)
    if code is not None:
        _identities[code] = identity
    return identity


@overload
def step(func: Callable[..., Any], /) -> Step: ...


@overload
def step(
    func: None = None,
    /,
    *,
    name: str | None = None,
    inputs: str | Iterable[str] | None = None,
    outputs: str | Iterable[str] | None = None,
    cache: CacheSetting = True,
    retry: int = 0,
    retry_delay: float = 1.0,
    timeout: float | None = None,
    condition: Callable[..., Any] | None = None,
    execution_group: str | None = None,
    resources: ResourceConfig | Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    capacity: Capacity | Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Step]: ...


def step(func: Callable[..., Any] | None = None, /, **options: Any) -> Step | Callable[[Callable[..., Any]], Step]:
    """Turn a function into a pipeline step: `@step` or `@step(name=..., retry=2, ...)`."""
    if func is not None:
        if options:
            raise TypeError("use @step or @step(option=...), not both")
        return Step(func)

    def decorate(f: Callable[..., Any]) -> Step:
        return Step(f, **options)

    return decorate
