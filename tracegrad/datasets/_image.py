"""A scikit-learn sample photograph in grey (needs scikit-learn and pillow, loaded lazily)."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike


def _load_sample_image(name: str):
    try:
        from sklearn.datasets import load_sample_image
    except ImportError as err:
        raise ImportError(
            "tracegrad.datasets.sample_image needs scikit-learn: "
            "pip install 'tracegrad[test]' (or pip install scikit-learn pillow)",
            name="sklearn",
        ) from err
    try:
        import PIL  # noqa: F401  (scikit-learn reads the JPEG with it)
    except ImportError as err:
        raise ImportError(
            "tracegrad.datasets.sample_image needs pillow (scikit-learn's load_sample_image "
            "reads the JPEG with it): pip install pillow",
            name="PIL",
        ) from err
    return load_sample_image(name)


def sample_image(
    name: str = "china.jpg",
    *,
    downscale: int = 1,
    crop: tuple[int, int] | None = None,
    seed: int = 0,
    dtype: DTypeLike = np.float32,
) -> np.ndarray:
    """scikit-learn's sample photograph in grey: an image whose rows NMF factorises.

    Stands for natural images (photographs, textures) decomposed into non-negative parts.
    The RGB image (``sklearn.datasets.load_sample_image``: ``"china.jpg"`` or
    ``"flower.jpg"``, 427 x 640) is turned to grey with the ITU-R 601 luma weights and scaled
    to ``[0, 1]``, averaged over ``downscale x downscale`` blocks, then optionally cropped.

    Args:
        name: the sample image's file name.
        downscale: integer block size of the averaging (1: full resolution).
        crop: ``(rows, cols)`` of a crop at a position drawn by ``seed`` (different draws of a
            batch), or None for the whole (downscaled) image.
        seed: NumPy ``default_rng`` seed of the crop's position (unused without ``crop``).
        dtype: dtype of the result.

    Returns:
        ``(rows, cols)`` array in ``[0, 1]``; may hold zeros (black pixels): fine for the
        Frobenius loss, not for Itakura-Saito.

    Raises:
        ImportError: scikit-learn or pillow is missing (the message says what to install).
    """
    if not isinstance(downscale, int) or downscale < 1:
        raise ValueError(f"downscale must be a positive integer, got {downscale!r}")
    rgb = np.asarray(_load_sample_image(name), np.float64)
    grey = rgb @ np.array([0.299, 0.587, 0.114]) / 255.0
    rows, cols = (s // downscale for s in grey.shape)
    grey = grey[: rows * downscale, : cols * downscale]
    grey = grey.reshape(rows, downscale, cols, downscale).mean(axis=(1, 3))
    if crop is not None:
        h, w = crop
        if not (1 <= h <= rows and 1 <= w <= cols):
            raise ValueError(f"crop {crop} does not fit the {rows} x {cols} image")
        rng = np.random.default_rng(seed)
        i, j = rng.integers(rows - h + 1), rng.integers(cols - w + 1)
        grey = grey[i : i + h, j : j + w]
    return grey.astype(dtype)
