"""Lets a stack's child process end itself when the stack that started it is gone."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable


def watch_parent(on_orphaned: Callable[[], None], interval: float = 1.0) -> None:
    """Call `on_orphaned` once the process named by LOCAL_STACK_PARENT_PID is no longer our parent."""
    parent = os.environ.get("LOCAL_STACK_PARENT_PID")
    if not parent or not parent.isdigit() or os.name == "nt":
        return
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(interval):
            if os.getppid() != int(parent):
                on_orphaned()
                return

    threading.Thread(target=watch, name="lifeline", daemon=True).start()


def main(argv: list[str]) -> int:
    """`python -m sandbox.lifeline COMMAND...`: run COMMAND, and end it when the stack or this process ends."""
    import signal
    import subprocess

    child = subprocess.Popen(argv)
    done = threading.Event()

    def stop(*_: object) -> None:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    watch_parent(stop)
    while not done.is_set() and child.poll() is None:
        done.wait(0.5)
    stop()
    return child.wait()


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
