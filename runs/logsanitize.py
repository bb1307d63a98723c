"""Log lines are data from user code: strip what breaks storage, cap their size, hide secrets."""

from __future__ import annotations

from flowsite.engine.textlimits import cut, storable
from stacks.models import MIN_SECRET_LENGTH

MAX_LINE_CHARS = 64 * 1024
LEVEL_CHARS = 16
MASK = "****"


def log_level(level: str) -> str:
    """A level name as the column holds it: upper case, cut to 16 characters (a custom level keeps the
    start of its name); none at all is INFO."""
    return storable(level).upper()[:LEVEL_CHARS] or "INFO"


class Sanitizer:
    """Makes a text storable: NUL and lone surrogates replaced, every secret masked, then cut to a limit.

    Secrets are masked before the cut, so that no cut leaves half a secret readable. Where occurrences
    overlap or touch ("abcd" and "cdef" in "abcdef") their union is masked as one, so that masking one
    never leaves a readable part of the other. Stacks refuse secrets too short to mask (MIN_SECRET_LENGTH):
    masking every "a" would hide the log, not the secret."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        self.secrets = sorted({s for s in secrets or [] if len(s) >= MIN_SECRET_LENGTH})

    def __call__(self, text: str, limit: int = MAX_LINE_CHARS) -> str:
        text = storable(text)
        spans = [span for secret in self.secrets if secret in text for span in _occurrences(text, secret)]
        if spans:
            text = _masked(text, spans)
        return cut(text, limit)


def _occurrences(text: str, secret: str) -> list[tuple[int, int]]:
    """Every place the secret occurs, overlapping ones included ("aaaa" twice in "aaaaa")."""
    spans = []
    start = text.find(secret)
    while start != -1:
        spans.append((start, start + len(secret)))
        start = text.find(secret, start + 1)
    return spans


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    parts = []
    kept_from = 0
    end = -1
    for start, stop in sorted(spans):
        if start > end:  # a new masked stretch: keep the text before it
            if end >= 0:
                parts.append(MASK)
            parts.append(text[kept_from:start])
        end = max(end, stop)
        kept_from = end
    parts.append(MASK)
    parts.append(text[kept_from:])
    return "".join(parts)
