"""Seeded generators of structured non-negative data: each stands for a kind of real data.

Every function is deterministic per ``seed`` (NumPy ``default_rng``), returns a NumPy array of
``dtype`` (float32 by default) and needs only NumPy.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

SNR_PRESETS: dict[str, float] = {"high": 30.0, "medium": 20.0, "low": 10.0}
"""Signal-to-noise ratios (dB) of ``low_rank``'s named presets, highest first."""


def _check_positive(**sizes: int) -> None:
    for name, value in sizes.items():
        if not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _fill_empty(V: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One count in each all-zero row and column (at a random place), so none is empty."""
    for i in np.flatnonzero(V.sum(axis=1) == 0):
        V[i, rng.integers(V.shape[1])] = 1.0
    for j in np.flatnonzero(V.sum(axis=0) == 0):
        V[rng.integers(V.shape[0]), j] = 1.0
    return V


def uniform(m: int = 500, n: int = 400, *, seed: int = 0, dtype: DTypeLike = np.float32):
    """Uniform ``[0, 1)`` noise: no structure at all (the ``nmf_solvers`` benchmark's data).

    Stands for nothing real: a baseline that flatters every solver, kept for comparison.

    Args:
        m: rows.
        n: columns.
        seed: NumPy ``default_rng`` seed.
        dtype: dtype of the result.

    Returns:
        ``(m, n)`` array; zeros only with probability ~0 (``V > 0`` in practice).
    """
    _check_positive(m=m, n=n)
    return np.random.default_rng(seed).random((m, n)).astype(dtype)


def low_rank(
    m: int = 500,
    n: int = 400,
    rank: int = 20,
    *,
    snr: float | str = "medium",
    zeros: float = 0.5,
    seed: int = 0,
    dtype: DTypeLike = np.float32,
):
    """``W H + E``: a sparse non-negative rank-``rank`` matrix plus non-negative noise.

    Stands for data that really is a few non-negative parts plus measurement noise (the
    textbook NMF model), at a chosen signal-to-noise ratio.  ``W`` (``m x rank``) and ``H``
    (``rank x n``) have exponential entries of which a fraction ``zeros`` is set to zero;
    ``E`` has exponential entries scaled so that ``20 log10(||W H||_F / ||E||_F) = snr``.

    Args:
        m: rows.
        n: columns.
        rank: inner dimension of the true factors.
        snr: signal-to-noise ratio in dB, or a name of ``SNR_PRESETS`` (``"high"`` 30 dB,
            ``"medium"`` 20 dB, ``"low"`` 10 dB).
        zeros: fraction of zero entries in the true factors, in ``[0, 1)``.
        seed: NumPy ``default_rng`` seed.
        dtype: dtype of the result.

    Returns:
        ``(m, n)`` array, ``V > 0`` (the noise is positive almost surely): fit for every loss.
    """
    _check_positive(m=m, n=n, rank=rank)
    if isinstance(snr, str):
        if snr not in SNR_PRESETS:
            raise ValueError(
                f"snr must be a number (dB) or one of {list(SNR_PRESETS)}, got {snr!r}"
            )
        snr = SNR_PRESETS[snr]
    if not 0 <= zeros < 1:
        raise ValueError(f"zeros must be in [0, 1), got {zeros}")
    rng = np.random.default_rng(seed)
    W = rng.exponential(1.0, (m, rank)) * (rng.random((m, rank)) >= zeros)
    H = rng.exponential(1.0, (rank, n)) * (rng.random((rank, n)) >= zeros)
    clean = W @ H
    E = rng.exponential(1.0, (m, n))
    scale = 10.0 ** (-snr / 20.0) * np.linalg.norm(clean) / max(np.linalg.norm(E), 1e-300)
    return (clean + scale * E).astype(dtype)


def mutation_counts(
    n_samples: int = 300,
    n_types: int = 96,
    n_signatures: int = 5,
    *,
    seed: int = 0,
    dtype: DTypeLike = np.float32,
):
    """A mutational catalogue: Poisson counts of ``n_types`` mutation types per sample.

    Stands for somatic mutation catalogues (96 trinucleotide substitution types by tumour
    samples), the data of mutational-signature analysis: ``n_signatures`` sparse signatures
    (Dirichlet, concentration 0.3, over the types) times gamma exposures (shape 0.8) scaled to
    200-2000 mutations per sample, then Poisson noise.  KL-NMF is the model's likelihood.

    Args:
        n_samples: columns (samples).
        n_types: rows (mutation types; 96 for single-base substitutions).
        n_signatures: true rank.
        seed: NumPy ``default_rng`` seed.
        dtype: dtype of the result.

    Returns:
        ``(n_types, n_samples)`` integer-valued counts with many zeros (fine for KL, not for
        Itakura-Saito); no all-zero row or column (an empty one gets a single count).
    """
    _check_positive(n_samples=n_samples, n_types=n_types, n_signatures=n_signatures)
    rng = np.random.default_rng(seed)
    S = rng.dirichlet(np.full(n_types, 0.3), size=n_signatures).T
    E = rng.gamma(0.8, 1.0, (n_signatures, n_samples)) * rng.uniform(200, 2000, n_samples)
    V = rng.poisson(S @ E).astype(np.float64)
    return _fill_empty(V, rng).astype(dtype)


def text_counts(
    n_docs: int = 1000,
    n_words: int = 2000,
    n_topics: int = 20,
    *,
    density: float = 0.05,
    zipf: float = 1.1,
    seed: int = 0,
    dtype: DTypeLike = np.float32,
):
    """A document-term matrix: word counts per document, Zipf word frequencies, ~5% nonzero.

    Stands for a bag-of-words corpus (the data of topic models).  Word ``j`` (0-based) has
    base frequency proportional to ``(j + 1) ** -zipf``; each of ``n_topics`` topics is a
    Dirichlet draw around it, each document a sparse Dirichlet mixture of topics (0.1), and
    the counts Poisson with one length scale chosen so that the expected fraction of nonzero
    entries is ``density``.  Returned dense (NMF here takes dense arrays).

    Args:
        n_docs: rows (documents).
        n_words: columns (vocabulary), most frequent first.
        n_topics: true rank.
        density: expected fraction of nonzero entries, in ``(0, 1)``.
        zipf: exponent of the word frequencies' power law.
        seed: NumPy ``default_rng`` seed.
        dtype: dtype of the result.

    Returns:
        ``(n_docs, n_words)`` integer-valued counts, mostly zeros (fine for KL, not for
        Itakura-Saito); no all-zero row or column (an empty one gets a single count).
    """
    _check_positive(n_docs=n_docs, n_words=n_words, n_topics=n_topics)
    if not 0 < density < 1:
        raise ValueError(f"density must be in (0, 1), got {density}")
    rng = np.random.default_rng(seed)
    base = np.arange(1, n_words + 1, dtype=np.float64) ** -zipf
    base /= base.sum()
    topics = rng.dirichlet(base * n_words * 0.5, size=n_topics)  # (n_topics, n_words)
    mix = rng.dirichlet(np.full(n_topics, 0.1), size=n_docs)  # (n_docs, n_topics)
    P = mix @ topics * rng.uniform(0.5, 1.5, (n_docs, 1))  # relative document lengths
    lo, hi = 1e-3, 1e9  # the length scale L with mean(1 - exp(-L P)) = density (bisection)
    for _ in range(40):
        mid = np.sqrt(lo * hi)
        lo, hi = (mid, hi) if np.mean(-np.expm1(-mid * P)) < density else (lo, mid)
    V = rng.poisson(np.sqrt(lo * hi) * P).astype(np.float64)
    return _fill_empty(V, rng).astype(dtype)


def spectrogram(
    n_freq: int = 257,
    n_frames: int = 400,
    n_notes: int = 8,
    *,
    power: bool = False,
    floor: float = 1e-3,
    seed: int = 0,
    dtype: DTypeLike = np.float32,
):
    """A music spectrogram: harmonic notes with random onsets and decays, over a noise floor.

    Stands for the magnitude (or power) STFT of polyphonic music, the data of audio source
    separation; the seeded, larger kin of ``synthetic_music``.  Each note is a harmonic
    template (partials at ``h f0`` with amplitude ``1/h`` times a random timbre, Gaussian in
    bin index), sounding at random onsets (about one per 40 frames) with a gamma amplitude and
    exponential decay; the magnitude is ``W H`` plus a positive noise floor (gamma, mean
    ``floor``, never below ``0.05 floor``).

    Args:
        n_freq: frequency bins (rows; 257 is a 512-point STFT), at least 16.
        n_frames: time frames (columns).
        n_notes: distinct notes (the true rank).
        power: return the power spectrogram (the magnitude squared), for Itakura-Saito.
        floor: mean of the noise floor.
        seed: NumPy ``default_rng`` seed.
        dtype: dtype of the result.

    Returns:
        ``(n_freq, n_frames)`` array, strictly positive (``V >= (0.05 floor)**p``): fit for
        every loss, Itakura-Saito included.
    """
    _check_positive(n_freq=n_freq, n_frames=n_frames, n_notes=n_notes)
    if n_freq < 16:
        raise ValueError(f"n_freq must be at least 16, got {n_freq}")
    if not floor > 0:
        raise ValueError(f"floor must be positive, got {floor}")
    rng = np.random.default_rng(seed)
    bins = np.arange(n_freq, dtype=np.float64)[:, None]
    f0 = rng.uniform(3.0, n_freq / 6.0, n_notes)
    W = np.zeros((n_freq, n_notes))
    for k in range(n_notes):
        h = np.arange(1, int(n_freq / f0[k]) + 1)
        amp = rng.uniform(0.5, 1.0, h.size) / h
        W[:, k] = (amp * np.exp(-0.5 * ((bins - h * f0[k]) / 0.8) ** 2)).sum(axis=1)
    frames = np.arange(n_frames, dtype=np.float64)
    H = np.zeros((n_notes, n_frames))
    for k in range(n_notes):
        for t0 in np.flatnonzero(rng.random(n_frames) < 1.0 / 40.0):
            after = frames - t0
            decay = rng.uniform(5.0, 25.0)
            H[k] += np.where(after >= 0, rng.gamma(2.0, 0.5) * np.exp(-after / decay), 0.0)
    V = W @ H + floor * (0.05 + rng.gamma(2.0, 0.475, (n_freq, n_frames)))
    return (V**2 if power else V).astype(dtype)
