"""Automatic checks for the course exercises.

A notebook calls a check with the student's function or value::

    from utils import checks
    checks.integral_image(my_integral_image)

Each check runs hidden cases and prints ``✅ ... pass`` and returns the student's function,
or prints the failing case, what was expected and a hint, and returns the course's
reference so the rest of the notebook still runs (in strict mode, ``COURSE_CHECKS_STRICT=1``,
it raises :class:`CheckFailed` instead). The notebook pattern is therefore::

    integral_image = checks.integral_image(integral_image)

Checks live here, not in the notebook, so an altered or deleted cell fails with a clear message.

One module per part of the course; this package re-exports them all.
"""
from ._core import Case, CheckFailed, check_target, check_value, compare, run_cases, strict  # noqa: F401
from .foundations import *  # noqa: F401,F403
from .detection import *  # noqa: F401,F403
from .faces import *  # noqa: F401,F403
from .vggface import *  # noqa: F401,F403
from .mrcnn_opencv import *  # noqa: F401,F403
from .mrcnn_keras import *  # noqa: F401,F403
from .yolo import *  # noqa: F401,F403
from .transfer import *  # noqa: F401,F403
from .segmentation import *  # noqa: F401,F403
from .generative import *  # noqa: F401,F403
from .gans import *  # noqa: F401,F403
from .thermal import *  # noqa: F401,F403
from .pose import *  # noqa: F401,F403
from .plates import *  # noqa: F401,F403
from .ocr import *  # noqa: F401,F403
from .aerial import *  # noqa: F401,F403
