"""Shared test helper: a training function's checkpoint write is atomic."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest


def assert_failed_save_keeps_old_file(train: Callable[[Path], Path], out: Path, monkeypatch) -> None:
    """``train(path)`` has already written ``out`` (the only file in its folder). Run it again with
    ``keras.Model.save_weights`` failing half-way through a write: the error must come through, ``out``
    must keep its bytes and no temporary file may be left beside it."""
    import keras

    before = out.read_bytes()

    def breaks_half_way(self, filepath, *args, **kwargs):
        open(filepath, "wb").write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save_weights", breaks_half_way)
    with pytest.raises(OSError, match="disk full"):
        train(out)
    assert out.read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == [out.name]
