"""Automatic checks for the course exercises.

A notebook calls a check with the student's function or value::

    from utils import checks
    checks.integral_image(my_integral_image)

Each check runs hidden cases and prints ``✅ ... pass``, or raises :class:`CheckFailed`
naming the failing case, what was expected, and a hint. Checks live here, not in the
notebook, so an altered or deleted cell fails with a clear message.

One module per part of the course; this package re-exports them all.
"""
from ._core import Case, CheckFailed, check_value, compare, run_cases  # noqa: F401
from .foundations import *  # noqa: F401,F403
from .detection import *  # noqa: F401,F403
from .faces import *  # noqa: F401,F403
from .vggface import *  # noqa: F401,F403
from .mrcnn_opencv import *  # noqa: F401,F403
from .mrcnn_keras import *  # noqa: F401,F403
from .yolo import *  # noqa: F401,F403
from .transfer import *  # noqa: F401,F403
