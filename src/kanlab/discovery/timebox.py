"""A time limit for pure-Python work such as sympy's: :func:`call_before`.

sympy cannot be told to stop. ``simplify`` ran for minutes on a 20-op trigonometric formula, and building
``exp(a*log(x)*...)`` runs ``logcombine``, whose sign queries ran past twice :func:`kanlab.discover`'s budget on a
Feynman formula. A watchdog thread raises an exception in the calling thread once the deadline has passed
(``PyThreadState_SetAsyncExc``); Python checks for it between bytecodes, so it stops Python code only, never C
code half way. Call it around pure-Python work that holds no global state (sympy expressions), not around torch
or numpy code that sets process-wide modes.
"""

from __future__ import annotations

import ctypes
import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")

_set_async_exc = getattr(ctypes.pythonapi, "PyThreadState_SetAsyncExc", None)
if _set_async_exc is not None:  # private prototypes: ctypes.pythonapi's own stay untouched
    _raise_in = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
        ("PyThreadState_SetAsyncExc", ctypes.pythonapi))
    _clear_in = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
        ("PyThreadState_SetAsyncExc", ctypes.pythonapi))


class TimeUp(Exception):
    """Raised by :func:`call_before` when the deadline passed before the call returned."""


class _Expired(BaseException):
    """What the watchdog raises, once: a BaseException, so that ``except Exception`` clauses let it through (sympy's
    core, simplify, functions, polys and assumptions have no ``except:`` or ``except BaseException``)."""


def call_before(deadline: float, fn: Callable[..., T], *args, **kwargs) -> T:
    """``fn(*args, **kwargs)``, stopped with :class:`TimeUp` once ``time.monotonic()`` passes ``deadline``.

    Without ``PyThreadState_SetAsyncExc`` (an interpreter other than CPython) the call runs to its end."""
    wait = deadline - time.monotonic()
    if wait <= 0:
        raise TimeUp(f"the deadline passed before {getattr(fn, '__name__', 'the call')} started")
    if _set_async_exc is None or wait == float("inf"):
        return fn(*args, **kwargs)
    token = type("_ExpiredHere", (_Expired,), {})  # one class per call: nested limits each catch their own
    thread = threading.get_ident()
    stop = threading.Event()

    def watch():
        if not stop.wait(wait):
            _raise_in(thread, token)

    watchdog = threading.Thread(target=watch, name="kanlab-timebox", daemon=True)
    # The watchdog raises at most once. Wherever that lands (in fn, or in the clean-up after it), the outer clause
    # turns it into TimeUp; once the watchdog is joined, a raise not yet seen is dropped, and none can follow.
    try:
        watchdog.start()
        try:
            return fn(*args, **kwargs)
        finally:
            stop.set()
            watchdog.join()
            _clear_in(thread, None)
    except token:
        # an interrupted assumption query leaves None cached on the expression it asked about: drop sympy's cache,
        # so that no later query reads it
        _clear_sympy_cache()
        raise TimeUp(f"{getattr(fn, '__name__', 'the call')} ran past its deadline") from None


def _clear_sympy_cache() -> None:
    from sympy.core.cache import clear_cache

    clear_cache()
