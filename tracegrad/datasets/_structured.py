"""``STRUCTURED``: one table of named datasets with the losses they are meant for.

The ``nmf_structured`` benchmark and the tests read it.  Adding a dataset is a generator (a
function of keyword arguments, ``seed`` and ``dtype``) plus one line below.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from ._digits import digits
from ._generators import low_rank, mutation_counts, spectrogram, text_counts, uniform
from ._image import sample_image


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One named dataset of ``STRUCTURED``.

    Attributes:
        make: the generator or loader, called as ``make(**kwargs, seed=, dtype=)``.
        losses: the losses (names of ``nmf.LOSSES``) the data is meant for.
        description: what real data it stands for, in a few words.
        rank: the factorisation rank the benchmark fits.
        single: keyword arguments of the single problem.
        batch: keyword arguments of one problem of a batch (draws differ by ``seed``), or
            None where the data has no natural batch.
        sizes: the keys of ``single``/``batch`` that are sizes (the benchmark's ``scale``
            multiplies them).
    """

    make: Callable[..., np.ndarray]
    losses: tuple[str, ...]
    description: str
    rank: int
    single: Mapping[str, Any]
    batch: Mapping[str, Any] | None
    sizes: tuple[str, ...] = ()


def _low_rank(snr: str) -> Dataset:
    return Dataset(
        low_rank, ("frobenius",),
        f"sparse rank-20 parts plus noise, SNR {snr}",
        20, {"m": 500, "n": 400, "snr": snr}, {"m": 120, "n": 100, "rank": 10, "snr": snr},
        ("m", "n"),
    )  # fmt: skip


STRUCTURED: dict[str, Dataset] = {
    "uniform": Dataset(
        uniform, ("frobenius",), "uniform [0, 1) noise, no structure (the nmf_solvers data)",
        20, {"m": 500, "n": 400}, {"m": 120, "n": 100}, ("m", "n"),
    ),
    "lowrank-snr30": _low_rank("high"),
    "lowrank-snr20": _low_rank("medium"),
    "lowrank-snr10": _low_rank("low"),
    "digits": Dataset(
        digits, ("frobenius",), "scikit-learn's 8x8 digits, images x pixels (bundled)",
        10, {}, {"rows": 256}, ("rows",),
    ),
    "image": Dataset(
        sample_image, ("frobenius",), "scikit-learn's china.jpg in grey, half size (pillow)",
        20, {"downscale": 2}, {"downscale": 2, "crop": (96, 96)}, ("crop",),
    ),
    "spectrogram": Dataset(
        spectrogram, ("frobenius", "kl"), "music magnitude spectrogram, 8 harmonic notes",
        8, {"n_freq": 257, "n_frames": 600}, {"n_freq": 129, "n_frames": 100},
        ("n_frames",),
    ),
    "counts-96x300": Dataset(
        mutation_counts, ("kl",), "mutational catalogue: 96 types x 300 samples, Poisson",
        5, {"n_samples": 300}, {"n_samples": 300}, ("n_samples",),
    ),
    "counts-96x3000": Dataset(
        mutation_counts, ("kl",), "mutational catalogue: 96 types x 3000 samples, Poisson",
        5, {"n_samples": 3000}, None, ("n_samples",),
    ),
    "text": Dataset(
        text_counts, ("kl",), "document-term counts, Zipf words, 5% nonzero",
        20, {"n_docs": 1000, "n_words": 2000}, {"n_docs": 200, "n_words": 300, "n_topics": 10},
        ("n_docs", "n_words"),
    ),
    "power-spectrogram": Dataset(
        spectrogram, ("itakura-saito",), "music power spectrogram (magnitude squared, > 0)",
        8, {"n_freq": 257, "n_frames": 600, "power": True},
        {"n_freq": 129, "n_frames": 100, "power": True}, ("n_frames",),
    ),
}  # fmt: skip
"""Name -> ``Dataset``: the structured data of the ``nmf_structured`` benchmark."""


def structured(
    name: str, *, seed: int = 0, dtype: DTypeLike = np.float32, **kwargs: Any
) -> np.ndarray:
    """The single problem of the dataset ``name`` of ``STRUCTURED``.

    Args:
        name: a key of ``STRUCTURED``.
        seed: NumPy ``default_rng`` seed of the generator (or of a loader's draw).
        dtype: dtype of the result.
        **kwargs: overrides of the entry's ``single`` keyword arguments.

    Returns:
        The data as the entry's generator returns it (see its docstring for zeros).

    Raises:
        KeyError: an unknown name (the message lists the table).
    """
    if name not in STRUCTURED:
        raise KeyError(f"unknown dataset {name!r} (known: {', '.join(STRUCTURED)})")
    entry = STRUCTURED[name]
    return entry.make(**{**entry.single, **kwargs}, seed=seed, dtype=dtype)
