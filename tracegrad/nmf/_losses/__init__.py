"""NMF losses: one module per loss, one table (``LOSSES``) of names read everywhere.

Adding a loss: a subclass of ``AbstractLoss`` in a module of its own, plus its line in
``LOSSES`` below (``docs/nmf-extending.md``).
"""

from __future__ import annotations

import numbers

from ._base import AbstractLoss as AbstractLoss
from ._beta import Beta as Beta
from ._frobenius import Frobenius as Frobenius
from ._itakura_saito import ItakuraSaito as ItakuraSaito
from ._kl import KullbackLeibler as KullbackLeibler

_KL, _IS = KullbackLeibler(), ItakuraSaito()

LOSSES: dict[str, AbstractLoss] = {
    "frobenius": Frobenius(),
    "kl": _KL,
    "kullback-leibler": _KL,
    "itakura-saito": _IS,
    "is": _IS,
}
"""Accepted ``loss`` names (aliases included) and the loss object each means."""

_BY_BETA = {2.0: LOSSES["frobenius"], 1.0: LOSSES["kl"], 0.0: LOSSES["itakura-saito"]}


def resolve_loss(loss, name: str = "loss") -> AbstractLoss:
    """The loss object for a name of ``LOSSES``, a float beta, or a loss object.

    Raises:
        ValueError: an unknown name, or a beta that is not a finite number (the message lists
            the table).
    """
    if isinstance(loss, AbstractLoss):
        return loss
    if isinstance(loss, str):
        if loss in LOSSES:
            return LOSSES[loss]
    elif isinstance(loss, numbers.Real) and not isinstance(loss, bool):
        b = float(loss)
        if b == b and abs(b) != float("inf"):
            return _BY_BETA.get(b) or Beta(b)
    raise ValueError(
        f"{name} must be one of {', '.join(map(repr, LOSSES))} or a finite float beta "
        f"(2 frobenius, 1 kl, 0 itakura-saito), got {loss!r}"
    )
