"""A run's whole log as a download, in constant memory whatever its length.

Lines are read in keyset chunks by sequence number (the (run, seq) index), never as one query
result: a log of millions of lines costs one chunk of rows at a time, in the web process and in
the database driver alike. The download is the log as it stood when it was asked for (up to its
last sequence number then), so a live run's download ends instead of chasing the writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from json.encoder import encode_basestring_ascii
from typing import Any

from django.db.models import Max

from .models import LogLine

# Lines are at most 64 KiB, so a chunk holds at most 64 MiB; a typical one, some 100 KiB.
CHUNK_LINES = 1000
FORMATS = {"text": ("text/plain; charset=utf-8", "txt"), "ndjson": ("application/x-ndjson", "ndjson")}


def last_seq(run_id: int) -> int:
    """The sequence number of the run's last stored line, 0 if it has none."""
    return LogLine.objects.filter(run_id=run_id).aggregate(last=Max("seq"))["last"] or 0


_FIELDS = {"text": ("seq", "text"), "ndjson": ("seq", "at", "step", "stream", "level", "text")}


def _chunks(run_id: int, fields: tuple[str, ...], upto: int, step: str | None) -> Iterator[list[tuple[Any, ...]]]:
    lines = LogLine.objects.filter(run_id=run_id, seq__lte=upto).order_by("seq")
    if step:
        lines = lines.filter(step=step)
    after = 0
    while True:
        chunk = list(lines.filter(seq__gt=after).values_list(*fields)[:CHUNK_LINES])
        if not chunk:
            return
        yield chunk
        after = chunk[-1][0]


def _text(chunk: list[tuple[Any, ...]]) -> bytes:
    # Text that cannot be UTF-8 (a lone surrogate) is shown escaped, as the log shows it elsewhere.
    return "".join(f"{text}\n" for _, text in chunk).encode("utf-8", "backslashreplace")


def _ndjson(chunk: list[tuple[Any, ...]]) -> bytes:
    # Written field by field with json's C string encoder: a dict and json.dumps per line cost
    # twice as much, which a log of millions of lines feels. ASCII-only, so any text encodes.
    q = encode_basestring_ascii
    return "".join(
        f'{{"seq":{seq},"at":"{at.isoformat()}","step":{q(step)},"stream":{q(stream)},'
        f'"level":{q(level)},"text":{q(text)}}}\n'
        for seq, at, step, stream, level, text in chunk
    ).encode("ascii")


def stream_log(run_id: int, fmt: str, upto: int, step: str | None = None) -> Iterator[bytes]:
    """The run's lines up to `upto`, in order, as bytes of `fmt` ("text" or "ndjson"), one chunk at a time."""
    render = _text if fmt == "text" else _ndjson
    for chunk in _chunks(run_id, _FIELDS[fmt], upto, step):
        yield render(chunk)
