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


CASES = [
    (checks.integral_image, good_integral, lambda img: np.cumsum(img, 0)),
    (checks.convolve2d, good_convolve, lambda img, k: good_convolve(img, k[::-1, ::-1])),  # flipped kernel
    (checks.max_pool, good_pool, lambda x, s: x[::s, ::s]),
    (checks.conv_transpose2d, good_transpose, lambda x, k, s: good_transpose(x, k, 1)),
    (checks.rect_sum, good_rect_sum, lambda ii, t, l, b, r: ii[b, r] - ii[t, r] - ii[b, l] + ii[t, l]),
    (checks.haar_two_rect, good_haar, lambda img, t, l, h, w: -good_haar(img, t, l, h, w)),
    (checks.confusion_matrix, good_confusion, lambda yt, yp, n: good_confusion(yp, yt, n)),
]


@pytest.mark.parametrize("check,good,bad", CASES, ids=[c[0].__name__ for c in CASES])
def test_check_passes_good_and_fails_bad(check, good, bad, capsys):
    assert check(good) is True
    assert "\u2705" in capsys.readouterr().out
    with pytest.raises(CheckFailed) as err:
        check(bad)
    message = str(err.value)
    assert check.__name__ in message and "case" in message and "hint" in message


def test_stub_and_crash_and_non_function_messages():
    def stub(img):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not written yet"):
        checks.integral_image(stub)
    with pytest.raises(CheckFailed, match="your function raised ZeroDivisionError"):
        checks.integral_image(lambda img: 1 / 0)
    with pytest.raises(CheckFailed, match="expected your function"):
        checks.integral_image(42)


def test_the_student_cannot_change_the_hidden_inputs():
    def mutating(img):
        img[:] = 0
        return good_integral(img)

    with pytest.raises(CheckFailed):
        checks.integral_image(mutating)   # wrong answers, but the next case still gets a fresh input
    assert checks.integral_image(good_integral)


def test_compare_and_check_value():
    assert checks.compare(np.ones((2, 2)), np.ones((2, 3))).startswith("shape")
    assert checks.compare(1.0, 1.0 + 1e-9) is None
    assert "expected a number" in checks.compare("x", 1.0)
    assert checks.check_value("answer", 42, 42)
    with pytest.raises(CheckFailed, match="answer failed"):
        checks.check_value("answer", 41, 42, hint="count again")
