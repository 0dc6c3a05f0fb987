"""A synthetic "music" magnitude spectrogram with known notes, for the demo and tests.

Four harmonic notes, each a template over frequency bins (harmonics ``h * f0`` with amplitude
``1/h``, Gaussian in bin index) and an activation over frames (onsets with exponential decay,
some notes sounding together).  ``V = W H + floor``: an exactly rank-4 non-negative matrix plus
a small constant floor, generated deterministically, so a KL-NMF of rank 4 should recover the
notes up to order and scale.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

NOTE_F0 = (7.0, 9.0, 11.5, 14.0)
"""Fundamental frequencies in bins: overlapping harmonics, distinct templates."""

NOTE_NAMES = ("C", "E", "G#", "B")

_ONSETS = (
    (4, 60, 120),
    (24, 60, 100, 140),
    (44, 84, 120),
    (10, 84, 140),
)


@dataclasses.dataclass(frozen=True)
class MusicData:
    """A synthetic spectrogram and its ground truth.

    Attributes:
        V: ``(n_freq, n_frames)`` magnitude spectrogram.
        W: ``(n_freq, 4)`` true note templates, each scaled to unit maximum.
        H: ``(4, n_frames)`` true activations.
        names: the note names.
    """

    V: np.ndarray
    W: np.ndarray
    H: np.ndarray
    names: tuple[str, ...]


def synthetic_music(
    n_freq: int = 128, n_frames: int = 160, floor: float = 1e-3, dtype: DTypeLike = np.float32
) -> MusicData:
    """Generate the deterministic four-note spectrogram.

    Args:
        n_freq: number of frequency bins (at least 64, so every note has harmonics).
        n_frames: number of time frames (at least 150, so every onset is heard).
        floor: constant added everywhere (a noise floor; keeps KL's log finite).
        dtype: dtype of the arrays.
    """
    if n_freq < 64 or n_frames < 150:
        raise ValueError(f"need n_freq >= 64 and n_frames >= 150, got {n_freq} and {n_frames}")
    bins = np.arange(n_freq, dtype=np.float64)[:, None]
    W = np.zeros((n_freq, len(NOTE_F0)))
    for k, f0 in enumerate(NOTE_F0):
        for h in range(1, int(n_freq / f0) + 1):
            W[:, k] += np.exp(-0.5 * ((bins[:, 0] - h * f0) / 0.7) ** 2) / h
        W[:, k] /= W[:, k].max()
    frames = np.arange(n_frames, dtype=np.float64)
    H = np.zeros((len(NOTE_F0), n_frames))
    for k, onsets in enumerate(_ONSETS):
        for t0 in onsets:
            after = frames - t0
            H[k] += np.where((after >= 0) & (after < 30), np.exp(-after / 10.0), 0.0)
    V = W @ H + floor
    return MusicData(V.astype(dtype), W.astype(dtype), H.astype(dtype), NOTE_NAMES)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denom) if denom > 0 else 0.0


def match_components(
    W_true: ArrayLike, H_true: ArrayLike, W: ArrayLike, H: ArrayLike
) -> tuple[tuple[int, ...], np.ndarray, np.ndarray]:
    """Match estimated components to true ones by the best total template correlation.

    Tries every permutation (fine for a handful of components).

    Returns:
        ``(perm, template_corr, activation_corr)``: ``perm[k]`` is the estimated component
        matched to true component ``k``; the correlations are per true component.
    """
    W_true, H_true, W, H = (np.asarray(x, np.float64) for x in (W_true, H_true, W, H))
    k = W_true.shape[1]
    if W.shape[1] != k:
        raise ValueError(f"need {k} estimated components, got W of shape {W.shape}")
    C = np.array([[_corr(W_true[:, i], W[:, j]) for j in range(k)] for i in range(k)])
    perm = max(itertools.permutations(range(k)), key=lambda p: sum(C[i, p[i]] for i in range(k)))
    w_corr = np.array([C[i, perm[i]] for i in range(k)])
    h_corr = np.array([_corr(H_true[i], H[perm[i]]) for i in range(k)])
    return perm, w_corr, h_corr
