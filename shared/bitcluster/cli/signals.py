"""SIGTERM ends a training command the way Ctrl-C does: by an exception, so that cleanup runs.

Python's default SIGTERM kills the process where it stands: ``finally`` blocks and context
managers never run, and a run's ``DIR.tmp-*`` directory or a teacher's cache lock stays behind.
Raised as an exception, the signal unwinds through them like ``KeyboardInterrupt``.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
from typing import Callable, Iterator, TypeVar

import typer

Command = TypeVar("Command", bound=Callable)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread was (a ``KeyboardInterrupt``: caught where Ctrl-C is)."""


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated`; the command then exits with 128 + 15.

    A second SIGTERM during the cleanup is ignored, so that the cleanup finishes (SIGKILL still
    ends it). Outside the main thread (where Python cannot take signals) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, _frame) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated(f"terminated by signal {signum}")

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    except Terminated:
        typer.secho("terminated (SIGTERM): temporary files and locks removed", fg=typer.colors.RED, err=True)
        raise typer.Exit(128 + signal.SIGTERM) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def cleans_up_on_sigterm(command: Command) -> Command:
    """``command`` run under :func:`sigterm_raises` (Typer reads the wrapped signature)."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        with sigterm_raises():
            return command(*args, **kwargs)

    return run
