"""preview_of: a bounded, JSON-only picture of a step's output, whatever the value."""

from __future__ import annotations

import json
import math

from flowsite.engine.previews import MAX_PREVIEW_BYTES, preview_bytes, preview_of


class Array:
    """Shaped like a numpy array to duck typing: `.shape` and `.dtype`, no numpy needed."""

    shape = (1000, 28, 28)
    dtype = "float32"


class Frame:
    """Shaped like a pandas DataFrame to duck typing: columns, shape, head and positional rows."""

    def __init__(self, rows: list[list[object]], columns: list[str]) -> None:
        self.rows = rows
        self.columns = columns
        self.shape = (len(rows), len(columns))
        self.iloc = self.rows

    def head(self, n: int) -> Frame:
        return Frame(self.rows[:n], self.columns)

    def __len__(self) -> int:
        return len(self.rows)


class Exploding:
    @property
    def shape(self):
        raise RuntimeError("boom")

    dtype = "x"


def test_numbers_and_short_text():
    assert preview_of(0.93) == {"kind": "number", "value": 0.93, "type": "builtins.float"}
    assert preview_of(7)["value"] == 7.0
    assert preview_of(math.nan)["value"] == "nan"
    assert preview_of("hello") == {"kind": "text", "text": "hello", "length": 5, "type": "builtins.str"}


def test_long_text_is_cut_with_a_marker_and_its_length_kept():
    preview = preview_of("a" * 50_000)
    assert len(preview["text"]) == 1000
    assert "truncated" in preview["text"]
    assert preview["length"] == 50_000


def test_a_list_of_dicts_is_a_table_of_its_first_rows():
    rows = [{"id": i, "name": f"row {i}", "score": i / 10} for i in range(500)]
    preview = preview_of(rows)
    assert preview["kind"] == "table"
    assert preview["columns"] == ["id", "name", "score"]
    assert preview["rows"][0] == ["0", "row 0", "0.0"]
    assert len(preview["rows"]) == 10
    assert preview["total_rows"] == 500


def test_a_dataframe_like_value_is_a_table():
    frame = Frame([[i, f"r{i}"] for i in range(30)], ["n", "label"])
    preview = preview_of(frame)
    assert preview["kind"] == "table"
    assert preview["columns"] == ["n", "label"]
    assert preview["rows"][2] == ["2", "r2"]
    assert preview["total_rows"] == 30


def test_an_array_like_value_gives_its_shape_and_dtype():
    preview = preview_of(Array())
    assert preview["kind"] == "array"
    assert preview["shape"] == [1000, 28, 28]
    assert preview["dtype"] == "float32"


def test_nested_json_is_read_only_as_far_as_shown():
    value = {"config": {"layers": list(range(10_000))}, "name": "model"}
    preview = preview_of(value)
    assert preview["kind"] == "json"
    assert preview["truncated"] is True
    assert json.loads(preview["text"])["config"]["layers"] == list(range(20))


def test_every_preview_is_json_of_bounded_size():
    hostile = [{f"col{c}": "x" * 10_000 for c in range(100)} for _ in range(100)]
    for value in (hostile, {"k": ["y" * 100_000] * 100}, "z" * 10**6, list(range(10**5))):
        preview = preview_of(value)
        assert preview is not None
        assert preview_bytes(preview) <= MAX_PREVIEW_BYTES
    assert preview_of(hostile)["rows"], "a wide table shows fewer rows, not none"


def test_unknown_objects_and_raising_ones_get_no_preview():
    assert preview_of(object()) is None
    assert preview_of(Exploding()) is None


def test_text_is_made_storable():
    assert preview_of("a\x00b\udce9")["text"] == "ab\\udce9"
