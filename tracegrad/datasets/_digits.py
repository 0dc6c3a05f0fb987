"""The bundled 8x8 handwritten digits (UCI test set, as shipped by scikit-learn)."""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np
from numpy.typing import DTypeLike


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


def digits(rows: int | None = None, *, seed: int = 0, dtype: DTypeLike = np.float32) -> np.ndarray:
    """The bundled digit images as an NMF matrix: images by pixels, values 0..16.

    Stands for image collections (faces, handwriting) factorised into parts; scikit-learn's
    bundled digits, ``load_digits`` without the labels.

    Args:
        rows: None for all 1797 images; else that many, drawn without replacement by ``seed``
            (different draws of a batch).
        seed: NumPy ``default_rng`` seed of the draw (unused when ``rows`` is None).
        dtype: dtype of the result.

    Returns:
        ``(rows or 1797, 64)`` array with many zeros, including all-zero pixel columns (the
        image border): fine for the Frobenius loss, not for Itakura-Saito.
    """
    images, _ = load_digits()
    if rows is not None:
        if not 1 <= rows <= len(images):
            raise ValueError(f"rows must be in [1, {len(images)}], got {rows}")
        pick = np.random.default_rng(seed).choice(len(images), size=rows, replace=False)
        images = images[np.sort(pick)]
    return images.astype(dtype)
