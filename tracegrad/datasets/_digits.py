"""The bundled 8x8 handwritten digits (UCI test set, as shipped by scikit-learn)."""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 digit images as a ``(1797, 64)`` float64 array of pixels 0..16, and the labels.

    Returns:
        ``(images, labels)``: images row-major 8x8 flattened; labels integers 0..9.
    """
    with resources.files("tracegrad.datasets").joinpath("data/digits.csv.gz").open("rb") as raw:
        with gzip.open(raw, "rt") as text:
            table = np.loadtxt(text, delimiter=",")
    return table[:, :-1], table[:, -1].astype(np.int64)


def digits_by_class(max_per_class: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One ``(n, 64)`` problem per digit, stacked into a batch padded to a common ``n``.

    The classes hold 174 to 183 images; shorter ones are padded with zero rows and a mask of
    zeros there, so a masked NMF fits each class on exactly its own images.

    Args:
        max_per_class: keep at most this many images per class (the first ones).

    Returns:
        ``(V, mask, counts)``: ``V`` and ``mask`` of shape ``(10, n, 64)``, ``counts`` ``(10,)``.
    """
    images, labels = load_digits()
    groups = [images[labels == d] for d in range(10)]
    if max_per_class is not None:
        if max_per_class < 1:
            raise ValueError(f"max_per_class must be positive, got {max_per_class}")
        groups = [g[:max_per_class] for g in groups]
    counts = np.array([len(g) for g in groups])
    n = int(counts.max())
    V = np.zeros((10, n, images.shape[1]))
    mask = np.zeros_like(V)
    for d, g in enumerate(groups):
        V[d, : len(g)] = g
        mask[d, : len(g)] = 1.0
    return V, mask, counts
