"""Small datasets for the demo, configs and tests: generated or bundled, never downloaded."""

from ._digits import digits_by_class as digits_by_class
from ._digits import load_digits as load_digits
from ._music import MusicData as MusicData
from ._music import match_components as match_components
from ._music import synthetic_music as synthetic_music
