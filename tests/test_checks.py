"""utils.checks: right answers pass, wrong answers fail with the case, and stubs get a clear message."""
import numpy as np
import pytest

from utils import checks
from utils.checks import CheckFailed


def good_integral(img):
    return np.cumsum(np.cumsum(img, 0), 1)


def good_convolve(img, k):
    from numpy.lib.stride_tricks import sliding_window_view

    return (sliding_window_view(img, k.shape) * k).sum(axis=(-1, -2))


def good_pool(x, s):
    h, w = x.shape[0] // s, x.shape[1] // s
    return x[:h * s, :w * s].reshape(h, s, w, s).max(axis=(1, 3))


def good_transpose(x, k, stride):
    out = np.zeros(((x.shape[0] - 1) * stride + k.shape[0], (x.shape[1] - 1) * stride + k.shape[1]))
    for (r, c), v in np.ndenumerate(x):
        out[r * stride:r * stride + k.shape[0], c * stride:c * stride + k.shape[1]] += v * k
    return out


def good_rect_sum(ii, top, left, bottom, right):
    total = ii[bottom, right]
    if top > 0:
        total -= ii[top - 1, right]
    if left > 0:
        total -= ii[bottom, left - 1]
    if top > 0 and left > 0:
        total += ii[top - 1, left - 1]
    return total


def good_haar(img, top, left, height, width):
    return img[top:top + height, left:left + width].sum() - img[top:top + height, left + width:left + 2 * width].sum()


def good_confusion(y_true, y_pred, n):
    m = np.zeros((n, n), int)
    np.add.at(m, (y_true, y_pred), 1)
    return m



def good_reconstruct(x, components, mean, k):
    c = components[:k]
    return (x - mean) @ c.T @ c + mean


def good_kl(mean, log_var):
    return 0.5 * np.sum(mean**2 + np.exp(log_var) - 1.0 - log_var, axis=1)


def good_planes(labels, n, h, w):
    return np.tile(np.eye(n)[np.asarray(labels)][:, None, None, :], (1, h, w, 1))


def good_requested(pred, req, n=10):
    pred, req = np.asarray(pred), np.asarray(req)
    return (pred == req).mean(), np.array([(pred[req == c] == c).mean() if np.any(req == c) else np.nan
                                           for c in range(n)])


def good_gaussian(x, n, seed=0):
    flat = np.asarray(x, float).reshape(len(x), -1)
    noise = np.random.default_rng(seed).standard_normal((n, flat.shape[1]))
    return (flat.mean(0) + noise * flat.std(0, ddof=1)).reshape((n,) + np.shape(x)[1:])


CASES = [
    (checks.integral_image, good_integral, lambda img: np.cumsum(img, 0)),
    (checks.convolve2d, good_convolve, lambda img, k: good_convolve(img, k[::-1, ::-1])),  # flipped kernel
    (checks.max_pool, good_pool, lambda x, s: x[::s, ::s]),
    (checks.conv_transpose2d, good_transpose, lambda x, k, s: good_transpose(x, k, 1)),
    (checks.rect_sum, good_rect_sum, lambda ii, t, l, b, r: ii[b, r] - ii[t, r] - ii[b, l] + ii[t, l]),
    (checks.haar_two_rect, good_haar, lambda img, t, l, h, w: -good_haar(img, t, l, h, w)),
    (checks.confusion_matrix, good_confusion, lambda yt, yp, n: good_confusion(yp, yt, n)),
    (checks.reconstruct, good_reconstruct, lambda x, c, m, k: (x - m) @ c[:k].T @ c[:k]),  # forgets the mean
    (checks.kl_divergence, good_kl, lambda m, lv: 0.5 * np.sum(m**2 + lv**2 - 1 - lv, axis=1)),  # var as log_var**2
    (checks.label_planes, good_planes, lambda labels, n, h, w: good_planes(labels, n, w, h)),  # axes swapped
    (checks.requested_label_accuracy, good_requested, lambda p, r, n=10: (np.mean(np.asarray(p) == r), np.zeros(n))),
    (checks.per_pixel_gaussian, good_gaussian,  # one noise value per image: pixels perfectly correlated
     lambda x, n, seed=0: good_gaussian(x, n, seed)[:, :1, :1, :1] * 0 + np.asarray(x, float).mean(0)
     + np.random.default_rng(seed).standard_normal((n, 1, 1, 1)) * np.asarray(x, float).std(0, ddof=1)),
]


@pytest.fixture
def strict(monkeypatch):
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "1")


@pytest.fixture
def student(monkeypatch):
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "0")


@pytest.mark.parametrize("check,good,bad", CASES, ids=[c[0].__name__ for c in CASES])
def test_check_passes_good_and_fails_bad(check, good, bad, capsys, strict):
    assert check(good) is good  # the student's own function is what later cells use
    assert "\u2705" in capsys.readouterr().out
    with pytest.raises(CheckFailed) as err:
        check(bad)
    message = str(err.value)
    assert check.__name__ in message and "case" in message and "hint" in message


@pytest.mark.parametrize("check,good,bad", CASES, ids=[c[0].__name__ for c in CASES])
def test_a_student_who_fails_goes_on_with_the_reference(check, good, bad, capsys, student):
    used = check(bad)
    out = capsys.readouterr().out
    assert used is not bad and callable(used)
    assert "\u274c" in out and "reference" in out and "hint" in out
    check(used)  # the reference passes its own check ...
    assert "\u2705" in capsys.readouterr().out

    def stub(*args, **kwargs):
        raise NotImplementedError()

    assert check(stub) is not stub and "not written yet" in capsys.readouterr().out
    assert check(...) is not Ellipsis and "not been written" in capsys.readouterr().out


def test_every_exported_check_has_a_reference(student, capsys):
    """A stub never leaves a student without a function to go on with (student copies run end to end)."""
    import inspect

    def stub(*args, **kwargs):
        raise NotImplementedError()

    skipped = {"face_database"}  # checks a database file, not a function: nothing to fall back to
    names = [n for n in checks.__all__ if n not in skipped] if hasattr(checks, "__all__") else None
    modules = [m for m in vars(checks).values() if inspect.ismodule(m) and m.__name__.startswith("utils.checks.")
               and not m.__name__.endswith("_core")]
    names = sorted({n for m in modules for n in getattr(m, "__all__", [])} - skipped)
    assert names
    for name in names:
        check = getattr(checks, name)
        required = [p for p in inspect.signature(check).parameters.values()
                    if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(required) > 1:  # a measured-target check (choice, measure, ...): tested with its own module
            continue
        assert callable(check(stub)), f"checks.{name} has no reference to fall back to"


def test_stub_and_crash_and_non_function_messages(strict):
    def stub(img):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not written yet"):
        checks.integral_image(stub)
    with pytest.raises(CheckFailed, match="your function raised ZeroDivisionError"):
        checks.integral_image(lambda img: 1 / 0)
    with pytest.raises(CheckFailed, match="expected your function"):
        checks.integral_image(42)


def test_the_student_cannot_change_the_hidden_inputs(strict):
    def mutating(img):
        img[:] = 0
        return good_integral(img)

    with pytest.raises(CheckFailed):
        checks.integral_image(mutating)   # wrong answers, but the next case still gets a fresh input
    assert checks.integral_image(good_integral)


def test_list_arguments_are_copied_for_every_case(strict):
    seen = []

    def mutating(values):
        seen.append(list(values))
        values.append(99)  # a student function that modifies its input list
        return len(values) - 1

    cases = [checks.Case(([1, 2, 3],), expected=3), checks.Case(([1, 2, 3],), expected=3)]
    shared = [1, 2, 3]
    cases.append(checks.Case((shared,), expected=3))
    cases.append(checks.Case((shared,), expected=3))  # same list object: still fresh for each case
    assert checks.run_cases("count", mutating, cases)
    assert seen == [[1, 2, 3]] * 4 and shared == [1, 2, 3]


def test_a_function_that_never_returns_is_reported(strict):
    def forever(x):
        while True:
            pass

    with pytest.raises(CheckFailed, match="did not return within 0.5 s"):
        checks.run_cases("forever", forever, [checks.Case((1,), expected=1)], time_limit=0.5)


def test_a_result_of_the_wrong_form_is_described_not_blamed_on_the_check(strict):
    with pytest.raises(CheckFailed) as err:
        checks.focal_loss(lambda p, y, gamma=2.0, alpha=0.25: "not an array")
    message = str(err.value)
    assert "returned a str" in message and "raised" not in message


def test_array_messages_name_what_was_returned():
    assert "expected an array, got ndarray" not in (checks.compare(np.array(["a"]), np.ones(1)) or "")
    assert checks.compare(np.array(["a"]), np.ones(1)).startswith("expected an array of numbers, got a NumPy array")
    assert checks.compare(np.ones(2), np.ones(2)) is None


def test_compare_and_check_value(strict):
    assert checks.compare(np.ones((2, 2)), np.ones((2, 3))).startswith("shape")
    assert checks.compare(1.0, 1.0 + 1e-9) is None
    assert "expected a number" in checks.compare("x", 1.0)
    assert checks.check_value("answer", 42, 42) == 42
    with pytest.raises(CheckFailed, match="answer failed"):
        checks.check_value("answer", 41, 42, hint="count again")


def test_check_value_and_target_fall_back_for_a_student(student, capsys):
    assert checks.check_value("answer", 41, 42, reference=42) == 42
    assert "reference value" in capsys.readouterr().out
    assert checks.check_value("answer", ..., 42, reference=42) == 42

    def measure(threshold):
        return 1.0 - abs(threshold - 0.5)

    assert checks.check_target("threshold", 0.45, measure, at_least=0.9, reference=0.5) == (0.45, 0.95)
    choice, value = checks.check_target("threshold", 0.1, measure, at_least=0.9, reference=0.5)
    out = capsys.readouterr().out
    assert (choice, value) == (0.5, 1.0) and "does not reach the target (>= 0.9)" in out and "reference choice" in out
    assert checks.check_target("threshold", ..., measure, at_least=0.9, reference=0.5) == (0.5, 1.0)
    assert checks.check_target("nan", 0.3, lambda c: float("nan"), at_least=0.1, reference=0.5)[0] == 0.5


def test_check_target_raises_in_strict_mode(strict):
    with pytest.raises(CheckFailed, match="does not reach the target"):
        checks.check_target("threshold", 0.1, lambda c: c, at_least=0.9, reference=0.95)
    with pytest.raises(ValueError):
        checks.check_target("threshold", 0.1, lambda c: c, reference=0.95)


def test_strict_mode_can_name_a_folder(monkeypatch, tmp_path):
    from utils.checks import _core

    monkeypatch.setenv("COURSE_CHECKS_STRICT", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert _core.strict()
    other = tmp_path / "student"
    other.mkdir()
    monkeypatch.chdir(other)
    assert not _core.strict()
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "1")
    assert _core.strict()
    monkeypatch.setenv("COURSE_CHECKS_STRICT", "0")
    assert not _core.strict()
