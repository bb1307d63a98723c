"""Outputs that remote jobs wrote under their stack's artifact_uri, reached through that stack's own client.

A gs:// output is read and deleted with the stack's credentials and endpoint, never the process's; a
file:// artifact_uri (a shared disk, or a test) is read only below the stack's own root. Outputs of
local runs stay with `runs.recording` (the database or FLOWSITE_ARTIFACT_ROOT).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import IO, Any

from flowsite.engine.stores import safe_segment

from .recording import load_artifact, path_of


def is_remote(uri: str, stack: Any) -> bool:
    return uri.startswith("gs://") or _stack_file(uri, stack) is not None


def run_artifact_prefix(run: Any) -> str:
    """Where the run's runner writes its outputs (flowsite.remote.UriArtifactStore): its own prefix only."""
    root = str((run.stack.config or {}).get("artifact_uri") or "").rstrip("/")
    if not root:
        return ""
    return f"{root}/{safe_segment(run.project.slug)}/{safe_segment(str(run.pk))}/"


def readable_by_jobs(uri: str, stack: Any) -> bool:
    """Whether the stack's jobs can read this output: only what is under the stack's own artifact_uri. A job
    sees neither this control plane's database and disk nor, with the stack's service account, surely
    another stack's bucket."""
    root = str((stack.config or {}).get("artifact_uri") or "").rstrip("/")
    return bool(root) and uri.startswith(root + "/")


def _stack_file(uri: str, stack: Any) -> Path | None:
    """The file behind a file:// output under the stack's own file:// artifact_uri, or None."""
    root = str((stack.config or {}).get("artifact_uri") or "")
    if not (root.startswith("file://") and uri.startswith("file://")):
        return None
    base = Path(root.removeprefix("file://")).resolve()
    path = Path(uri.removeprefix("file://")).resolve()
    return path if path.is_relative_to(base) else None


class StackArtifacts:
    """The remote outputs of runs on any stack; one orchestrator (and so one client) per stack."""

    def __init__(self) -> None:
        self._orchestrators: dict[int, Any] = {}

    def orchestrator(self, stack: Any) -> Any:
        if stack.pk not in self._orchestrators:
            self._orchestrators[stack.pk] = stack.orchestrator()
        return self._orchestrators[stack.pk]

    def open(self, uri: str, stack: Any) -> IO[bytes]:
        path = _stack_file(uri, stack)
        if path is not None:
            return open(path, "rb")
        if uri.startswith("gs://"):
            return self.orchestrator(stack).open_artifact(uri)
        raise ValueError(f"{uri!r} is not an output of stack {stack.name!r}")

    def payload(self, uri: str, data: bytes | None, stack: Any) -> bytes:
        """An artifact's stored bytes (its pickle), wherever it was stored."""
        if data is not None:
            return data
        if not is_remote(uri, stack):
            return path_of(uri).read_bytes()
        with self.open(uri, stack) as stream:
            return stream.read()

    def write(self, uri: str, payload: bytes, stack: Any) -> None:
        """Store bytes as an output of the stack's jobs, where its jobs can read it."""
        path = _stack_file(uri, stack)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".partial")
            partial.write_bytes(payload)
            partial.replace(path)
        elif uri.startswith("gs://"):
            self.orchestrator(stack).write_artifact(uri, payload)
        else:
            raise ValueError(f"{uri!r} is not under stack {stack.name!r}'s artifact_uri")

    def value(self, uri: str, data: bytes | None, stack: Any) -> Any:
        """The object an artifact holds, wherever it was stored."""
        if data is not None or not is_remote(uri, stack):
            return load_artifact(uri, data)
        with self.open(uri, stack) as stream:
            return pickle.loads(stream.read())

    def delete(self, uri: str, stack: Any) -> None:
        path = _stack_file(uri, stack)
        if path is not None:
            path.unlink(missing_ok=True)
        elif uri.startswith("gs://"):
            self.orchestrator(stack).delete_artifact(uri)
        else:
            raise ValueError(f"{uri!r} is not an output of stack {stack.name!r}")
