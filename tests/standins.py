"""Shared pieces of the tests' stand-in detectors (registered by the tests that use them): what a stand-in's
`train` returns, a Trained record whose weights file names the training set."""
from __future__ import annotations

from pathlib import Path


def stand_in_trained(train, cell_dir, model: str, note: str | None = None):
    """Write CELL/weights.txt (`note`, default the training set's name) and return its one-epoch Trained record."""
    from benchmark.detectors import Trained
    weights = Path(cell_dir) / "weights.txt"
    weights.write_text(train.name if note is None else note)
    return Trained(init="none", model=model, weights=str(weights), train_s=0.01, best_epoch=1, epochs_run=1,
                   n_train_images=len(train.coco.images), epoch_s=[0.01], val={"map": 0.5, "best_epoch": 1})
