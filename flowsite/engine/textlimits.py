"""What makes a text from user code safe to send and store: no NUL, no lone surrogate, a bounded length.

Pure functions with no Django, so the remote runner (inside a Vertex AI job, with only the engine)
applies the same rules before it reports as the control plane applies before it stores
(`runs.logsanitize`, which adds secret masking): a line that would be refused is made visible instead.
"""

from __future__ import annotations

_MARKER = " …[truncated {} characters]"


def storable(text: str) -> str:
    """The text with NUL bytes removed and lone surrogates written out as the visible text `\\udce9`.

    A lone surrogate is what Python gives for bytes it could not decode (a Latin-1 file name);
    strict UTF-8, and so every database and JSON peer, refuses it.
    """
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def cut(text: str, limit: int) -> str:
    """At most `limit` characters: the start of the text and a marker that says how many characters went.

    The marker counts in, unlike `runs.logsanitize.Sanitizer`'s, so a text cut here to the limit the
    control plane keeps is not cut there again, and the count stays that of the original text.
    """
    if len(text) <= limit:
        return text
    # The most digits the count can have, so the result never exceeds the limit.
    room = limit - len(_MARKER.format(len(text)))
    if room <= 0:
        return text[:limit]
    return text[:room] + _MARKER.format(len(text) - room)
