"""Log lines are data from user code: strip what breaks storage, cap their size, hide secrets."""

from __future__ import annotations

from flowsite.engine.textlimits import cut, storable

MAX_LINE_CHARS = 64 * 1024
LEVEL_CHARS = 16
MASK = "****"
_MIN_SECRET_LENGTH = 4


def log_level(level: str) -> str:
    """A level name as the column holds it: upper case, cut to 16 characters (a custom level keeps the
    start of its name); none at all is INFO."""
    return storable(level).upper()[:LEVEL_CHARS] or "INFO"


class Sanitizer:
    def __init__(self, secrets: list[str] | None = None) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted((s for s in secrets or [] if len(s) >= _MIN_SECRET_LENGTH), key=len, reverse=True)

    def __call__(self, text: str, limit: int = MAX_LINE_CHARS) -> str:
        text = storable(text)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return cut(text, limit)
