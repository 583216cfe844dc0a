"""kanlab.discovery.timebox: a time limit for pure-Python work (sympy's)."""

import threading
import time

import pytest
import sympy

from kanlab.discovery import search
from kanlab.discovery.timebox import TimeUp, call_before


def spin(seconds: float, swallow: bool = False) -> str:
    """Pure-Python work for up to ``seconds`` (a bound, so that a broken limit fails instead of hanging)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            sum(range(100))
        except Exception:  # sympy-style broad clauses must not swallow the limit
            if not swallow:
                raise
    return "finished"


def test_a_call_in_time_returns_its_value_and_its_own_errors():
    assert call_before(time.monotonic() + 30, lambda a, b=1: a + b, 2, b=3) == 5
    with pytest.raises(KeyError, match="own"):
        call_before(time.monotonic() + 30, lambda: {}["own"])


def test_a_long_call_is_stopped_even_through_except_exception():
    for swallow in (False, True):
        with pytest.raises(TimeUp, match="spin ran past its deadline"):
            call_before(time.monotonic() + 0.1, spin, 60, swallow)


def test_a_passed_deadline_raises_before_the_call():
    called = []
    with pytest.raises(TimeUp, match="before"):
        call_before(time.monotonic() - 1, called.append, 1)
    assert called == []


def test_no_stray_exception_after_calls_that_end_near_their_deadline():
    # the deadline and the end of the call race; each call either returns or raises TimeUp, and nothing arrives
    # in the code that runs after it
    outcomes = set()
    for i in range(200):
        try:
            outcomes.add(call_before(time.monotonic() + 0.002, spin, 0.002 * (i % 3) / 2))
        except TimeUp:
            outcomes.add("stopped")
        spin(0.001)
    assert outcomes <= {"finished", "stopped"}
    spin(0.2)


def test_it_works_in_a_worker_thread():
    result = []

    def worker():
        try:
            call_before(time.monotonic() + 0.1, spin, 60)
        except TimeUp:
            result.append("stopped")

    t = threading.Thread(target=worker)
    t.start()
    t.join(120)
    assert result == ["stopped"]


def test_tidy_keeps_the_formula_when_sympy_runs_past_its_time(monkeypatch):
    a, b = sympy.symbols("a b", positive=True)
    monkeypatch.setattr(search, "TIDY_SECONDS", 0.05)
    monkeypatch.setattr(search.sympy, "simplify", lambda e: spin(60) and e)
    expr = a * b / (2 * a) + b
    assert search._tidy(expr, False) == sympy.expand(expr)  # expanded in time, not simplified
    with pytest.raises(search._OutOfTime):  # past the candidate's own deadline, the candidate stops
        search._tidy(expr, False, time.monotonic() + 0.05)
