"""File-descriptor output of a run's process (C code, subprocesses) routed into its log."""

from __future__ import annotations

import array
import codecs
import fcntl
import logging
import os
import select
import termios
import threading
from typing import Any

from flowsite.engine.capture import is_captured

_JOIN_SECONDS = 2.0
_LEVELS = {"stdout": "INFO", "stderr": "WARNING"}


class FdCapture:
    """Points fds 1 and 2 at pipes and turns what arrives into log lines of the current step."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self._busy = threading.Lock()
        self._pumps: list[tuple[int, str, list[str], codecs.IncrementalDecoder]] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        # Console handlers would send a step's log records in again, through the pipe, as stderr.
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.addFilter(lambda record: not is_captured(record))
        for fd, stream, level in ((1, "stdout", "INFO"), (2, "stderr", "WARNING")):
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            partial: list[str] = [""]
            decoder = _decoder()
            thread = threading.Thread(
                target=self._pump,
                args=(read_end, stream, level, partial, decoder),
                name=f"flowsite-{stream}",
                daemon=True,
            )
            thread.start()
            self._pumps.append((read_end, stream, partial, decoder))
            self._threads.append(thread)

    def drain(self) -> None:
        """Read what was written so far, so it is told as the current step's output."""
        with self._busy:
            for read_end, stream, partial, decoder in self._pumps:
                self._consume(read_end, stream, partial, decoder)
                if partial[0]:
                    self.recorder.log_line(self.recorder.current_step, stream, _LEVELS[stream], partial[0])
                    partial[0] = ""

    def stop(self) -> None:
        """Point fds 1 and 2 at /dev/null so the pipes end, then let the readers finish."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)
        for thread in self._threads:
            # A step's orphan may still hold a pipe open; the process group kill ends it later.
            thread.join(_JOIN_SECONDS)

    def _pump(
        self, read_end: int, stream: str, level: str, partial: list[str], decoder: codecs.IncrementalDecoder
    ) -> None:
        # Reads happen only under the lock, here or in drain(), so lines keep their order.
        try:
            while True:
                select.select([read_end], [], [])
                with self._busy:
                    if not self._consume(read_end, stream, partial, decoder, at_least_one=True):
                        break
            partial[0] += decoder.decode(b"", final=True)
            if partial[0]:
                self.recorder.log_line(self.recorder.current_step, stream, level, partial[0])
        finally:
            os.close(read_end)

    def _consume(
        self,
        read_end: int,
        stream: str,
        partial: list[str],
        decoder: codecs.IncrementalDecoder,
        at_least_one: bool = False,
    ) -> bool:
        """Turn the bytes waiting in the pipe into lines; False at the end of the stream."""
        waiting = _unread(read_end)
        if not waiting and not at_least_one:
            return True
        chunk = os.read(read_end, max(waiting, 1))
        if not chunk:
            return False
        lines = (partial[0] + decoder.decode(chunk)).split("\n")
        partial[0] = lines.pop()
        level = _LEVELS[stream]
        for line in lines:
            self.recorder.log_line(self.recorder.current_step, stream, level, line.rstrip("\r"))
        return True


def _decoder() -> codecs.IncrementalDecoder:
    # Incremental, so a character split across two reads stays whole; bytes that are not UTF-8 (a
    # Latin-1 file name) are kept visible as \xe9 rather than dropped or turned into "?".
    return codecs.getincrementaldecoder("utf-8")(errors="backslashreplace")


def _unread(fd: int) -> int:
    count = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, count)
    return count[0]
