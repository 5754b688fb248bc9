"""Every notebook's knobs, in one table: what differs between fast and full mode.

``KNOBS[notebook]`` has up to three dicts: ``both`` (same in both modes), ``fast`` and
``full``. Notebooks read them through ``utils.course.setup(notebook)``; nothing else in
a notebook changes between modes. Add one entry per notebook, keyed by its number.
"""

KNOBS = {
    "0_1": {
        "both": {"photo": "chelsea"},
    },
    "0_2": {
        "fast": {"dataset": "mnist-sample", "train_size": 4000, "epochs": 4, "batch_size": 64},
        "full": {"dataset": "keras-mnist", "train_size": 60000, "epochs": 10, "batch_size": 128},
    },
    "2_1": {
        "both": {"photos": ["astronaut", "grace_hopper", "chelsea"]},
        "fast": {"timing_repeats": 3},
        "full": {"timing_repeats": 10},
    },
}
