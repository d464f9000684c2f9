"""The stall watchdog: abort a run whose blocks or trials stop finishing."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any


class Watchdog:
    """Abort a run that stops making progress.

    A daemon thread checks that ``beat()`` was called within the last ``timeout``
    seconds. If not, it calls ``on_stall`` (the runner saves its checkpoint there: the
    results held by the waiting main thread are consistent between blocks), prints one
    line naming the stalled step and how to resume, and ends the process with exit
    status 3 through ``exit_fn`` (``os._exit``: the main thread is blocked inside a
    native call and cannot be interrupted). ``timeout <= 0`` disables it.
    """

    EXIT_STATUS = 3

    def __init__(
        self,
        timeout: float,
        what: str,
        *,
        on_stall: Callable | None = None,
        exit_fn: Callable[[int], Any] = os._exit,
        poll: float | None = None,
    ):
        self.timeout = float(timeout)
        self.what = what
        self.on_stall = on_stall
        self.exit_fn = exit_fn
        self.fired = False
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread = None
        if self.timeout > 0:
            self._poll = poll if poll is not None else min(5.0, self.timeout / 4)
            self._thread = threading.Thread(
                target=self._watch, daemon=True, name="jaxnet-watchdog"
            )
            self._thread.start()

    def beat(self) -> None:
        self._last = time.monotonic()

    def stop(self) -> None:
        self._stop.set()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _watch(self) -> None:
        while not self._stop.wait(self._poll):
            idle = time.monotonic() - self._last
            if idle <= self.timeout:
                continue
            self.fired = True
            saved = ""
            if self.on_stall is not None:
                try:
                    self.on_stall()
                    saved = "; finished work is checkpointed"
                except Exception as err:  # report, still abort
                    saved = f"; saving the checkpoint failed ({err})"
            print(
                f"jaxnet: error: {self.what} made no progress for {idle:.1f} s "
                f"(--stall-timeout {self.timeout:g}){saved}; aborting: rerun the same "
                "command to resume",
                file=sys.stderr,
                flush=True,
            )
            self.exit_fn(self.EXIT_STATUS)
            return
