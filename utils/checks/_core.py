"""The machinery behind every exercise check (see ``utils.checks``).

Every check returns **what the cells after it should use**, so a stuck student can go on:

    confusion_matrix = checks.confusion_matrix(confusion_matrix)

- the student's function passes every hidden case: the check prints ``✅`` and returns it;
- it fails (or is still a stub): the check prints what failed and a hint (never the
  solution), then returns the course's reference implementation with a visible note;
- in *strict* mode (``COURSE_CHECKS_STRICT=1``, set by the course's tests for the
  instructor notebooks) a failure raises :class:`CheckFailed` instead, so a wrong
  instructor solution can never pass CI.

Each hidden case runs on fresh copies of its inputs (a student function that modifies
its arguments cannot spoil the next case) and under a time limit (a function that never
returns is reported instead of hanging the notebook).
"""
from __future__ import annotations

import copy
import os
import signal
import threading
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

STRICT_ENV = "COURSE_CHECKS_STRICT"
CASE_TIME_LIMIT = 20.0
"""Seconds one hidden case may take before it is reported as too slow (or stuck)."""


class CheckFailed(AssertionError):
    """An exercise check failed; the message names the case, what was expected and a hint."""


class _CaseTimeout(Exception):
    pass


def strict() -> bool:
    """True when a failed check must raise: the instructor run in CI.

    ``COURSE_CHECKS_STRICT`` is ``1`` (strict everywhere), empty/``0`` (never), or a folder: then
    checks are strict only in notebooks running in that folder (the course's tests set it to the
    instructor notebooks' folder, so the student copies they also run keep the student behaviour).
    """
    value = os.environ.get(STRICT_ENV, "").strip()
    if value.lower() in ("", "0", "false", "no"):
        return False
    if value.lower() in ("1", "true", "yes"):
        return True
    try:
        return os.path.samefile(value, os.getcwd())
    except OSError:
        return False


@dataclass
class Case:
    """One hidden case: call the student's function with ``args``/``kwargs`` and compare
    with ``expected`` (or let ``judge(result)`` return an error string or ``None``)."""

    args: tuple = ()
    kwargs: dict | None = None
    expected: Any = None
    judge: Callable[[Any], str | None] | None = None
    label: str = ""


def _short(value: Any, limit: int = 400) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        with np.printoptions(precision=4, suppress=True, threshold=60):
            text = f"array(shape={value.shape}, dtype={value.dtype})\n{value}"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + " ..."


def _kind(value: Any) -> str:
    """A reader's name for the type of ``value`` ("a list", "None", "a str"...)."""
    if value is None:
        return "None"
    if value is Ellipsis:
        return "... (the stub's placeholder)"
    if isinstance(value, np.ndarray):
        return f"a NumPy array of dtype {value.dtype}"
    return f"a {type(value).__name__}"


def compare(result: Any, expected: Any, atol: float = 1e-6, rtol: float = 1e-5) -> str | None:
    """Return ``None`` if ``result`` matches ``expected``, else a sentence saying how it differs.

    Arrays are compared by shape, then values (``np.allclose``); numbers with tolerance;
    everything else with ``==``.
    """
    if isinstance(expected, np.ndarray) or isinstance(result, np.ndarray):
        try:
            res = np.asarray(result, dtype=float)
        except (TypeError, ValueError):
            return f"expected an array of numbers, got {_kind(result)} that cannot be read as numbers"
        exp = np.asarray(expected, dtype=float)
        if res.shape != exp.shape:
            return f"shape {res.shape}, expected {exp.shape}"
        if not np.allclose(res, exp, atol=atol, rtol=rtol, equal_nan=True):
            worst = np.unravel_index(np.argmax(np.abs(res - exp)), exp.shape) if exp.size else ()
            return f"values differ (largest difference at index {tuple(int(i) for i in worst)})"
        return None
    if isinstance(expected, (float, int, np.floating, np.integer)) and not isinstance(expected, bool):
        try:
            ok = np.isclose(float(result), float(expected), atol=atol, rtol=rtol)
        except (TypeError, ValueError):
            return f"expected a number, got {_kind(result)}"
        return None if ok else f"got {result!r}, expected {expected!r}"
    return None if result == expected else f"got {_short(result)}, expected {_short(expected)}"


@contextmanager
def _time_limit(seconds: float):
    """Raise :class:`_CaseTimeout` after ``seconds`` (Unix main thread only; elsewhere no limit)."""
    usable = (seconds and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def _alarm(signum, frame):  # noqa: ANN001
        raise _CaseTimeout()

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _fail(name: str, message: str, reference: Any, what: str = "function") -> Any:
    """Raise in strict mode (or with no reference); else print the failure and return the reference."""
    if strict() or reference is None:
        raise CheckFailed(message)
    print(f"\u274c {message}")
    print(f"\u27a1\ufe0f  The cells below use the course's reference {what} `{name}` so the rest of the "
          "notebook still runs. Fix yours and run this cell again to use it.")
    return reference


def run_cases(name: str, func: Callable, cases: Iterable[Case], hint: str = "",
              atol: float = 1e-6, rtol: float = 1e-5, reference: Callable | None = None,
              convert: Callable[[Any], Any] | None = None, time_limit: float = CASE_TIME_LIMIT) -> Callable:
    """Run ``func`` on every hidden case and return the function later cells should use.

    ``convert(result)`` (optional) turns the student's result into the form the cases compare
    (e.g. a list into an int array); when it fails, the message says what was returned.
    On success prints a pass line and returns ``func``; on failure prints (or, in strict mode
    or without a ``reference``, raises :class:`CheckFailed` with) the first failing case and
    the hint, and returns ``reference``.
    """
    if not callable(func):
        return _fail(name, f"{name}: expected your function, got {_kind(func)}"
                     + (" (the exercise cell above has not been written or run yet)" if func is Ellipsis else ""),
                     reference)
    cases = list(cases)
    for i, case in enumerate(cases, 1):
        kwargs = case.kwargs or {}
        shown_args = ", ".join([_short(a, 200) for a in case.args] + [f"{k}={_short(v, 80)}" for k, v in kwargs.items()])
        label = f"case {i}/{len(cases)}" + (f" ({case.label})" if case.label else "")
        args, kw = copy.deepcopy(case.args), copy.deepcopy(kwargs)  # the student may modify them
        try:
            with _time_limit(time_limit):
                result = func(*args, **kw)
        except NotImplementedError:
            return _fail(name, f"{name}: {label}: your function is not written yet (it raised NotImplementedError).",
                         reference)
        except _CaseTimeout:
            return _fail(name, f"{name}: {label}: your function did not return within {time_limit:g} s "
                         f"(an endless loop?)\n  input: {shown_args}" + (f"\n  hint: {hint}" if hint else ""), reference)
        except Exception as err:  # the student's code raised: show where
            tb = traceback.format_exception_only(type(err), err)[-1].strip()
            return _fail(name, f"{name}: {label}: your function raised {tb}\n  input: {shown_args}"
                         + (f"\n  hint: {hint}" if hint else ""), reference)
        if convert is not None:
            try:
                result = convert(result)
            except Exception:  # the result has the wrong form: say what it was, not where the check broke
                return _fail(name, f"{name}: {label} failed: your function returned {_kind(result)} "
                             f"({_short(result, 120)}), which is not the expected form\n  input: {shown_args}"
                             + (f"\n  hint: {hint}" if hint else ""), reference)
        problem = case.judge(result) if case.judge else compare(result, case.expected, atol, rtol)
        if problem:
            expected = "" if case.judge else f"\n  expected: {_short(case.expected)}"
            return _fail(name, f"{name}: {label} failed: {problem}\n  input: {shown_args}\n  got: {_short(result)}"
                         f"{expected}" + (f"\n  hint: {hint}" if hint else ""), reference)
    print(f"\u2705 {name}: all {len(cases)} checks pass")
    return func


def check_value(name: str, value: Any, expected: Any = None, judge: Callable[[Any], str | None] | None = None,
                hint: str = "", atol: float = 1e-6, rtol: float = 1e-5, reference: Any = None) -> Any:
    """Check a value the student computed (not a function). Returns ``value`` when right,
    else (outside strict mode) ``reference`` with a note. Same reporting as :func:`run_cases`."""
    if value is Ellipsis:
        problem = "the exercise cell above has not been written yet (it still holds `...`)"
    else:
        try:
            problem = judge(value) if judge else compare(value, expected, atol, rtol)
        except Exception as err:  # a value of the wrong form: the judge could not read it
            problem = f"could not read {_kind(value)} ({type(err).__name__}: {err})"
    if problem:
        return _fail(name, f"{name} failed: {problem}\n  got: {_short(value)}" + (f"\n  hint: {hint}" if hint else ""),
                     reference, what="value")
    print(f"\u2705 {name}: correct")
    return value


def check_target(name: str, choice: Any, measure: Callable[[Any], float], *, at_least: float | None = None,
                 at_most: float | None = None, reference: Any = None, metric: str = "score",
                 hint: str = "") -> tuple[Any, float]:
    """A *measured target* exercise: the student picks ``choice`` (a threshold, a settings dict,
    a model-building function...), ``measure(choice)`` computes the metric, and the check passes
    when it reaches the target (``>= at_least`` and/or ``<= at_most``).

    Returns ``(choice_used, metric_value)``: the student's choice when it reaches the target,
    else (outside strict mode) the course's ``reference`` choice and its metric, with a note.
    """
    if at_least is None and at_most is None:
        raise ValueError(f"check_target({name!r}): give at_least or at_most")
    target = " and ".join(t for t in [f">= {at_least:g}" if at_least is not None else "",
                                      f"<= {at_most:g}" if at_most is not None else ""] if t)

    def _reached(value: float) -> bool:
        return bool(np.isfinite(value) and (at_least is None or value >= at_least)
                    and (at_most is None or value <= at_most))

    problem = None
    if choice is Ellipsis:
        problem = "the exercise cell above has not been written yet (it still holds `...`)"
    else:
        try:
            value = float(measure(choice))
        except NotImplementedError:
            problem = "your function is not written yet (it raised NotImplementedError)"
        except Exception as err:
            problem = f"measuring your choice raised {traceback.format_exception_only(type(err), err)[-1].strip()}"
        else:
            if _reached(value):
                print(f"\u2705 {name}: {metric} {value:.3f} reaches the target ({target})")
                return choice, value
            problem = f"{metric} {value:.3f} does not reach the target ({target})"
    message = f"{name}: {problem}" + (f"\n  hint: {hint}" if hint else "")
    if strict() or reference is None:
        raise CheckFailed(message)
    ref_value = float(measure(reference))
    print(f"\u274c {message}")
    print(f"\u27a1\ufe0f  The cells below use the course's reference choice ({_short(reference, 80)}: {metric} "
          f"{ref_value:.3f}) so the rest of the notebook still runs. Try again and rerun this cell to use yours.")
    return reference, ref_value
