"""The structured datasets: deterministic per seed, shapes, dtypes, zeros as documented."""

import sys

import numpy as np
import pytest

from tracegrad import datasets
from tracegrad.datasets import SNR_PRESETS, STRUCTURED

SMALL = {
    "uniform": {"m": 30, "n": 20},
    "low_rank": {"m": 30, "n": 20, "rank": 3},
    "mutation_counts": {"n_samples": 40},
    "text_counts": {"n_docs": 200, "n_words": 300, "n_topics": 5},
    "spectrogram": {"n_freq": 65, "n_frames": 80},
    "digits": {"rows": 50},
}
"""Every seeded generator at a small size."""


def _make(name, seed=0, **kwargs):
    return getattr(datasets, name)(**{**SMALL[name], **kwargs}, seed=seed)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_generators_are_deterministic_per_seed_and_differ_across_seeds(name):
    a, b, c = _make(name, 0), _make(name, 0), _make(name, 1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.float32 and _make(name, dtype=np.float64).dtype == np.float64
    assert a.ndim == 2 and np.all(a >= 0) and np.all(np.isfinite(a))


def test_shapes():
    assert _make("uniform").shape == (30, 20)
    assert _make("low_rank").shape == (30, 20)
    assert _make("mutation_counts").shape == (96, 40)
    assert _make("text_counts").shape == (200, 300)
    assert _make("spectrogram").shape == (65, 80)
    assert _make("digits").shape == (50, 64)
    assert datasets.digits().shape == (1797, 64)


@pytest.mark.parametrize("name", ["uniform", "low_rank", "spectrogram"])
def test_strictly_positive_data(name):
    assert np.all(_make(name) > 0)


def test_power_spectrogram_is_the_magnitude_squared():
    mag = _make("spectrogram", dtype=np.float64)
    power = _make("spectrogram", power=True, dtype=np.float64)
    np.testing.assert_allclose(power, mag**2)
    assert power.min() > 0


@pytest.mark.parametrize("name", ["mutation_counts", "text_counts"])
def test_counts_are_integers_with_zeros_but_no_empty_row_or_column(name):
    V = _make(name)
    np.testing.assert_array_equal(V, np.round(V))
    assert np.any(V == 0)
    assert np.all(V.sum(axis=0) > 0) and np.all(V.sum(axis=1) > 0)


def test_text_counts_are_five_percent_nonzero_with_zipf_word_frequencies():
    V = datasets.text_counts(n_docs=400, n_words=1000, seed=3)
    assert 0.04 < np.mean(V > 0) < 0.06
    totals = V.sum(axis=0)[:300]
    slope = np.polyfit(np.log(np.arange(1, 301)), np.log(totals), 1)[0]
    assert -1.6 < slope < -0.7  # the words' frequencies fall as a power law


def test_digits_have_their_documented_zero_columns():
    V = datasets.digits()
    assert np.any(V.sum(axis=0) == 0) and np.all(V.sum(axis=1) > 0)
    np.testing.assert_array_equal(V, datasets.load_digits()[0])


def test_snr_presets_are_ordered_and_set_the_noise():
    assert list(SNR_PRESETS) == ["high", "medium", "low"]
    assert SNR_PRESETS["high"] > SNR_PRESETS["medium"] > SNR_PRESETS["low"]
    args = {"m": 60, "n": 50, "rank": 4, "seed": 0, "dtype": np.float64}
    clean = datasets.low_rank(**args, snr=np.inf)
    errors = [np.linalg.norm(datasets.low_rank(**args, snr=p) - clean) for p in SNR_PRESETS]
    assert errors[0] < errors[1] < errors[2]  # same draws: only the noise's scale differs
    for preset, error in zip(SNR_PRESETS.values(), errors, strict=True):
        assert np.isclose(20 * np.log10(np.linalg.norm(clean) / error), preset)
    with pytest.raises(ValueError, match="snr"):
        datasets.low_rank(snr="loud")


def test_structured_table_entries_name_known_losses_and_make_their_data():
    from tracegrad.nmf import LOSSES

    assert "uniform" in STRUCTURED
    for name, entry in STRUCTURED.items():
        assert entry.losses and all(loss in LOSSES for loss in entry.losses), name
        assert entry.description and entry.rank >= 1
        assert set(entry.sizes) <= set(entry.single) | set(entry.batch or {}), name
        if "itakura-saito" in entry.losses and name != "image":
            assert datasets.structured(name, n_frames=40).min() > 0
    with pytest.raises(KeyError, match="known"):
        datasets.structured("nope")


def test_sample_image_needs_scikit_learn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"scikit-learn.*tracegrad\[test\]"):
        datasets.sample_image()


def test_sample_image_needs_pillow(monkeypatch):
    pytest.importorskip("sklearn")
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="pip install pillow"):
        datasets.sample_image()


def test_sample_image_grey_downscaled_and_cropped():
    pytest.importorskip("sklearn")
    pytest.importorskip("PIL")
    full = datasets.sample_image(downscale=2)
    assert full.shape == (213, 320) and full.dtype == np.float32
    assert 0 <= full.min() and full.max() <= 1
    a = datasets.sample_image(downscale=4, crop=(20, 30), seed=0)
    assert a.shape == (20, 30)
    np.testing.assert_array_equal(a, datasets.sample_image(downscale=4, crop=(20, 30), seed=0))
    assert not np.array_equal(a, datasets.sample_image(downscale=4, crop=(20, 30), seed=1))
