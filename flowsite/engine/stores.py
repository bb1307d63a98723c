"""Cache and artifact stores for running pipelines in-process, without a control plane."""

from __future__ import annotations

import functools
import hashlib
import pickle
import re
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


# Called for every output of every step, with the same few names each time.
@functools.lru_cache(maxsize=4096)
def safe_segment(value: str) -> str:
    """A path segment that cannot climb out of its folder or name a hidden file."""
    cleaned = _UNSAFE.sub("_", value).lstrip(".")[:100]
    if cleaned != value:
        # Keep distinct names distinct after cleaning ("a b" and "a_b").
        cleaned = f"{cleaned}-{hashlib.sha256(value.encode()).hexdigest()[:10]}"
    return cleaned


class MemoryCacheStore:
    """Keeps cached step results in a dict for the life of the process."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> Any:
        entry = self.entries.get(key)
        return entry["value"] if entry is not None else None

    def set_value(self, key: str, value: Any, step_name: str, code_hash: str) -> None:
        self.entries[key] = {"value": value, "step": step_name, "code_hash": code_hash}


class FileArtifactStore:
    """Pickles step outputs under `root/<project>/<run>/<step>/<name>.pkl`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def materialize(self, obj: Any, name: str, run_id: str, step_name: str, project_name: str = "default") -> str:
        folder = self.root / safe_segment(project_name) / safe_segment(run_id) / safe_segment(step_name)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{safe_segment(name)}.pkl"
        partial = path.with_suffix(".pkl.partial")
        with open(partial, "wb") as f:
            pickle.dump(obj, f, protocol=5)
        partial.replace(path)
        return path.resolve().as_uri()

    def load(self, uri: str) -> Any:
        path = Path(uri.removeprefix("file://")).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"{uri} is not in this artifact store")
        with open(path, "rb") as f:
            return pickle.load(f)
