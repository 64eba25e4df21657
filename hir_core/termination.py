"""SIGTERM (what a scheduler sends) as a request to stop at the next safe point.

Raising from the signal handler at whatever line the main thread is on is not safe: a bare
``except:`` in a library catches the exception and carries on (langdetect's profile loader
turned it into a language-detection error, so a verifier gave a False verdict and the run
went on to the end). So the first SIGTERM only sets a flag; :func:`stop_if_requested`,
called after each stage is recorded (``tasks.stage``), raises :class:`Terminated` there:
the finished stages are kept, the flow's cleanup runs (the lock released, the MLflow run
marked FAILED). A second SIGTERM raises at once, for a stage too long to wait for (the run
is then as resumable as after SIGKILL: every output is published atomically and recorded
after).

Light on purpose (signal and threading only): ``hir``'s command line imports it before any
command runs.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["Terminated", "defer_sigterm", "install_handler", "requested", "stop_if_requested"]

_REQUESTED = threading.Event()
_DEFERRING = threading.Event()  # set while a command runs under defer_sigterm


class Terminated(BaseException):
    """SIGTERM asked the command to stop. A BaseException, like KeyboardInterrupt: no
    ``except Exception`` (a retry condition, a checker guard) swallows it, and every
    ``finally`` on the way out runs."""


def _handler(signum, frame) -> None:
    if _REQUESTED.is_set():
        raise Terminated()  # the second SIGTERM: now
    _REQUESTED.set()


def requested() -> bool:
    """Whether a SIGTERM arrived since the last :func:`defer_sigterm` began."""
    return _REQUESTED.is_set()


def stop_if_requested() -> None:
    """Raise :class:`Terminated` when a SIGTERM asked the running command to stop (call it
    at a safe point; outside :func:`defer_sigterm` it does nothing)."""
    if _DEFERRING.is_set() and _REQUESTED.is_set():
        raise Terminated()


def install_handler() -> bool:
    """Under :func:`defer_sigterm`, make SIGTERM a stop request again (only possible from
    the main thread); True when installed. Prefect's flow engine puts its own handler in
    place for the length of a flow run (raising at any line): a flow's first task calls this
    to put ours back; Prefect restores the one it found when the flow ends. Outside a
    command (a flow called as a library) Prefect's handler is left as it is."""
    if not _DEFERRING.is_set() or threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) is not _handler:
        signal.signal(signal.SIGTERM, _handler)
    return True


@contextlib.contextmanager
def defer_sigterm() -> Iterator[None]:
    """For the length of a command: SIGTERM is a stop request (module docstring)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _REQUESTED.clear()
    previous = signal.signal(signal.SIGTERM, _handler)
    _DEFERRING.set()
    try:
        yield
    finally:
        _DEFERRING.clear()
        signal.signal(signal.SIGTERM, previous)
