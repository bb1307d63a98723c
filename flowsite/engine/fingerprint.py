"""Stable digests of step inputs and parameters, the same in every process."""

from __future__ import annotations

import hashlib
import pickle
from typing import Any


class Unfingerprintable(Exception):
    """The value cannot be reduced to bytes, so a result depending on it is never cached."""


def digest(*values: Any) -> str:
    h = hashlib.sha256()
    for value in values:
        _feed(h, value)
    return h.hexdigest()


def _feed(h: Any, obj: Any) -> None:
    kind = type(obj)
    if obj is None:
        h.update(b"N")
    elif kind is bool:
        h.update(b"T" if obj else b"F")
    elif kind is int or kind is float:
        h.update(b"i" if kind is int else b"f")
        h.update(repr(obj).encode())
        h.update(b";")
    elif kind is str:
        _feed_bytes(h, b"s", obj.encode("utf-8", "surrogatepass"))
    elif kind is bytes:
        _feed_bytes(h, b"b", obj)
    elif kind is list or kind is tuple:
        h.update(b"l%d:" % len(obj) if kind is list else b"t%d:" % len(obj))
        for item in obj:
            _feed(h, item)
    elif kind is dict:
        # Two dicts equal as values must hash alike whatever their insertion order.
        h.update(b"d%d:" % len(obj))
        for key_digest, value in sorted(((digest(k), v) for k, v in obj.items()), key=lambda kv: kv[0]):
            h.update(key_digest.encode())
            _feed(h, value)
    elif kind is set or kind is frozenset:
        h.update(b"S%d:" % len(obj))
        for member_digest in sorted(digest(m) for m in obj):
            h.update(member_digest.encode())
    elif hasattr(obj, "tobytes") and hasattr(obj, "dtype") and hasattr(obj, "shape"):
        # Array-likes (numpy and friends): content, type and shape, without pickling overhead.
        h.update(f"a{kind.__module__}.{kind.__qualname__}:{obj.dtype}:{tuple(obj.shape)}:".encode())
        h.update(obj.tobytes())
    else:
        try:
            payload = pickle.dumps(obj, protocol=5)
        except Exception as exc:
            raise Unfingerprintable(f"{kind.__qualname__} cannot be pickled: {exc}") from None
        _feed_bytes(h, b"p", payload)


def _feed_bytes(h: Any, tag: bytes, data: bytes) -> None:
    h.update(tag + b"%d:" % len(data))
    h.update(data)
