"""A small, safe picture of a step's output, made where the value is in memory.

The control plane shows it on the run's page instead of loading the artifact, which is a pickle and is
never unpickled by the web tier. A preview is plain JSON (strings, numbers, lists, dicts) of bounded
size whatever the value: containers are read only as far as the preview shows, texts are cut, and a
value of an unknown kind gets no preview rather than a `repr` that could be huge or run user code.

Kinds: `number` (`value`), `text` (`text`, `length`), `json` (`text`, `truncated`), `table`
(`columns`, `rows` of cell texts, `total_rows`), `array` (`shape`, `dtype`). Each also has `type`.
"""

from __future__ import annotations

import json
import math
from numbers import Real
from typing import Any

from .textlimits import cut, storable

MAX_PREVIEW_BYTES = 16 * 1024
TEXT_CHARS = 1000
JSON_CHARS = 2000
CELL_CHARS = 100
TABLE_ROWS = 10
TABLE_COLUMNS = 20
# How far a nested value is read for a json preview: enough to recognise it, never all of a big one.
JSON_ITEMS = 20
JSON_DEPTH = 4


def preview_of(value: Any) -> dict[str, Any] | None:
    """The value's preview, or None when it has none worth showing (or reading it failed)."""
    try:
        preview = _preview(value)
    # The value is the user's, and its methods (`shape`, `head`) may raise anything; a missing preview
    # must never cost the step its output.
    except Exception:
        return None
    if preview is None:
        return None
    preview["type"] = cut(storable(f"{type(value).__module__}.{type(value).__qualname__}"), 200)
    # A table of wide cells shows fewer rows rather than none.
    while preview_bytes(preview) > MAX_PREVIEW_BYTES and preview.get("rows"):
        preview["rows"].pop()
    return preview if preview_bytes(preview) <= MAX_PREVIEW_BYTES else None


def preview_bytes(preview: dict[str, Any]) -> int:
    """The preview's size as the control plane stores it (compact UTF-8 JSON)."""
    return len(json.dumps(preview, ensure_ascii=False, separators=(",", ":")).encode())


def _preview(value: Any) -> dict[str, Any] | None:
    if value is None or isinstance(value, bool):
        return {"kind": "json", "text": json.dumps(value), "truncated": False}
    if isinstance(value, Real):
        number = float(value)
        return {"kind": "number", "value": number if math.isfinite(number) else str(number)}
    if isinstance(value, str):
        return {"kind": "text", "text": cut(storable(value), TEXT_CHARS), "length": len(value)}
    if _is_dataframe(value):
        return _dataframe(value)
    if _is_records(value):
        return _records(value)
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        shape = [int(n) for n in tuple(value.shape)[:32]]
        return {"kind": "array", "shape": shape, "dtype": cut(storable(str(value.dtype)), 100)}
    if isinstance(value, (dict, list, tuple)):
        clipped, truncated = _clip(value, JSON_DEPTH)
        text = json.dumps(clipped, indent=1, ensure_ascii=False)
        return {
            "kind": "json",
            "text": cut(storable(text), JSON_CHARS),
            "truncated": truncated or len(text) > JSON_CHARS,
        }
    return None


def _is_records(value: Any) -> bool:
    """A list of dicts with string keys: a table's rows."""
    return (
        isinstance(value, (list, tuple))
        and len(value) > 0
        and all(isinstance(row, dict) and all(isinstance(k, str) for k in row) for row in value[:TABLE_ROWS])
    )


def _records(rows: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> dict[str, Any]:
    shown = rows[:TABLE_ROWS]
    columns: list[str] = []
    for row in shown:
        for key in row:
            if key not in columns and len(columns) < TABLE_COLUMNS:
                columns.append(key)
    return {
        "kind": "table",
        "columns": [_cell(c) for c in columns],
        "rows": [[_cell(row[c]) if c in row else "" for c in columns] for row in shown],
        "total_rows": len(rows),
    }


def _is_dataframe(value: Any) -> bool:
    # pandas-like without importing pandas: named columns, a shape, and row access by position.
    return all(hasattr(value, attr) for attr in ("columns", "shape", "iloc", "head"))


def _dataframe(frame: Any) -> dict[str, Any]:
    columns = list(frame.columns)[:TABLE_COLUMNS]
    head = frame.head(TABLE_ROWS)
    rows = [[_cell(v) for v in list(head.iloc[i])[:TABLE_COLUMNS]] for i in range(len(head))]
    return {"kind": "table", "columns": [_cell(c) for c in columns], "rows": rows, "total_rows": int(frame.shape[0])}


def _cell(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, (bool, int, float)):
        text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    else:
        # Only the kinds above are rendered: anything else is named, not repr'd.
        text = f"<{type(value).__name__}>"
    return cut(storable(text), CELL_CHARS)


def _clip(value: Any, depth: int) -> tuple[Any, bool]:
    """The value cut to JSON_ITEMS items per container and JSON_DEPTH levels; whether anything was cut."""
    if isinstance(value, str):
        return (value[:TEXT_CHARS], len(value) > TEXT_CHARS)
    if value is None or isinstance(value, (bool, int)):
        return value, False
    if isinstance(value, float):
        return (value if math.isfinite(value) else str(value)), False
    if depth == 0:
        return "…", True
    if isinstance(value, dict):
        items = list(_first(value.items(), JSON_ITEMS))
        out: dict[str, Any] = {}
        truncated = len(value) > JSON_ITEMS
        for key, item in items:
            out[str(key)[:CELL_CHARS]], cut_here = _clip(item, depth - 1)
            truncated = truncated or cut_here
        return out, truncated
    if isinstance(value, (list, tuple)):
        clipped = [_clip(item, depth - 1) for item in value[:JSON_ITEMS]]
        return [v for v, _ in clipped], len(value) > JSON_ITEMS or any(c for _, c in clipped)
    return f"<{type(value).__name__}>", False


def _first(items: Any, n: int) -> Any:
    for index, item in enumerate(items):
        if index == n:
            return
        yield item
