"""Shape contracts for the identities (kept importable here; the code lives in ``_shapespec``)."""

from __future__ import annotations

from .._registry.shapespec import check_shapes as check_shapes
from .._registry.shapespec import shapes as shapes
