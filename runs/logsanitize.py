"""Log lines are data from user code: strip what breaks storage, cap their size, hide secrets."""

from __future__ import annotations

MAX_LINE_CHARS = 64 * 1024
MASK = "****"
_MIN_SECRET_LENGTH = 4


class Sanitizer:
    def __init__(self, secrets: list[str] | None = None) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted((s for s in secrets or [] if len(s) >= _MIN_SECRET_LENGTH), key=len, reverse=True)

    def __call__(self, text: str, limit: int = MAX_LINE_CHARS) -> str:
        if "\x00" in text:
            text = text.replace("\x00", "")
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        if len(text) > limit:
            text = f"{text[:limit]} …[truncated {len(text) - limit} characters]"
        return text
