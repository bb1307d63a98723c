"""Upper limits on elapsed time in tests, one knob to widen them all.

A few tests assert that something happens promptly (a cancel takes effect within 3 s, a timed-out step
returns within 5 s): the limits are what a user would accept on an idle machine. A busy CI machine may be
slower without anything being wrong, so every such limit is multiplied by FLOWSITE_TEST_TIME_SCALE
(default 1; CI may set 2 or 3). Deadlines of waits are not scaled here: they only bound a failure's wait.
"""

from __future__ import annotations

import os


def _scale() -> float:
    raw = os.environ.get("FLOWSITE_TEST_TIME_SCALE", "1")
    try:
        scale = float(raw)
    except ValueError:
        scale = 0.0
    if not 1 <= scale <= 100:
        raise SystemExit(f"FLOWSITE_TEST_TIME_SCALE must be a number from 1 to 100, not {raw!r}")
    return scale


SCALE = _scale()


def within(seconds: float) -> float:
    """The limit to assert for something a user expects within `seconds` on an idle machine."""
    return seconds * SCALE
