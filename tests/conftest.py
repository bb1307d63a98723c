from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
(ROOT / "test-output").mkdir(exist_ok=True)


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    """A file a test pipeline's steps append to, to count what really executed."""
    return str(tmp_path / "ledger.txt")


def ledger_entries(path: str) -> list[str]:
    file = Path(path)
    return file.read_text().splitlines() if file.exists() else []
