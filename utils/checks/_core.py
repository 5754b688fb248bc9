"""The machinery behind every exercise check (see ``utils.checks``)."""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np


class CheckFailed(AssertionError):
    """An exercise check failed; the message names the case, what was expected and a hint."""


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
    if isinstance(value, np.ndarray):
        with np.printoptions(precision=4, suppress=True, threshold=60):
            text = f"array(shape={value.shape}, dtype={value.dtype})\n{value}"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + " ..."


def compare(result: Any, expected: Any, atol: float = 1e-6, rtol: float = 1e-5) -> str | None:
    """Return ``None`` if ``result`` matches ``expected``, else a sentence saying how it differs.

    Arrays are compared by shape, then values (``np.allclose``); numbers with tolerance;
    everything else with ``==``.
    """
    if isinstance(expected, np.ndarray) or isinstance(result, np.ndarray):
        try:
            res = np.asarray(result, dtype=float)
        except (TypeError, ValueError):
            return f"expected an array, got {type(result).__name__}"
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
            return f"expected a number, got {type(result).__name__}"
        return None if ok else f"got {result!r}, expected {expected!r}"
    return None if result == expected else f"got {_short(result)}, expected {_short(expected)}"


def run_cases(name: str, func: Callable, cases: Iterable[Case], hint: str = "",
              atol: float = 1e-6, rtol: float = 1e-5) -> bool:
    """Run ``func`` on every case; print a pass line, or raise :class:`CheckFailed`
    describing the first failing case and the hint. Returns ``True`` on pass."""
    if not callable(func):
        raise CheckFailed(f"{name}: expected your function, got {type(func).__name__} {func!r}")
    cases = list(cases)
    for i, case in enumerate(cases, 1):
        kwargs = case.kwargs or {}
        shown_args = ", ".join([_short(a, 200) for a in case.args] + [f"{k}={_short(v, 80)}" for k, v in kwargs.items()])
        label = f"case {i}/{len(cases)}" + (f" ({case.label})" if case.label else "")
        try:
            copies = tuple(np.array(a) if isinstance(a, np.ndarray) else a for a in case.args)
            result = func(*copies, **kwargs)
        except NotImplementedError:
            raise CheckFailed(f"{name}: {label}: your function is not written yet (it raised NotImplementedError).") from None
        except Exception as err:  # the student's code raised: show where
            tb = traceback.format_exception_only(type(err), err)[-1].strip()
            raise CheckFailed(f"{name}: {label}: your function raised {tb}\n  input: {shown_args}"
                              + (f"\n  hint: {hint}" if hint else "")) from None
        problem = case.judge(result) if case.judge else compare(result, case.expected, atol, rtol)
        if problem:
            expected = "" if case.judge else f"\n  expected: {_short(case.expected)}"
            raise CheckFailed(f"{name}: {label} failed: {problem}\n  input: {shown_args}\n  got: {_short(result)}"
                              f"{expected}" + (f"\n  hint: {hint}" if hint else ""))
    print(f"\u2705 {name}: all {len(cases)} checks pass")
    return True


def check_value(name: str, value: Any, expected: Any = None, judge: Callable[[Any], str | None] | None = None,
                hint: str = "", atol: float = 1e-6, rtol: float = 1e-5) -> bool:
    """Check a value the student computed (not a function). Same reporting as :func:`run_cases`."""
    problem = judge(value) if judge else compare(value, expected, atol, rtol)
    if problem:
        raise CheckFailed(f"{name} failed: {problem}\n  got: {_short(value)}" + (f"\n  hint: {hint}" if hint else ""))
    print(f"\u2705 {name}: correct")
    return True
