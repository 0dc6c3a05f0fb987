"""Datasets for the demo, configs, tests and benchmarks: generated or bundled, never downloaded.

``STRUCTURED`` names the structured data of the ``nmf_structured`` benchmark (each entry with
the losses it is meant for); ``structured(name)`` makes one.  ``sample_image`` needs
scikit-learn and pillow; everything else only NumPy.
"""

from ._digits import digits as digits
from ._digits import digits_by_class as digits_by_class
from ._digits import load_digits as load_digits
from ._generators import SNR_PRESETS as SNR_PRESETS
from ._generators import low_rank as low_rank
from ._generators import mutation_counts as mutation_counts
from ._generators import spectrogram as spectrogram
from ._generators import text_counts as text_counts
from ._generators import uniform as uniform
from ._image import sample_image as sample_image
from ._music import MusicData as MusicData
from ._music import match_components as match_components
from ._music import synthetic_music as synthetic_music
from ._structured import STRUCTURED as STRUCTURED
from ._structured import Dataset as Dataset
from ._structured import structured as structured
