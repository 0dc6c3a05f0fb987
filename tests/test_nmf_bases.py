"""The NMF solver and loss classes follow equinox's abstract/final convention.

Walked from the registries (``SOLVERS``, ``LOSSES`` and ``Beta``, the loss a float beta
resolves to), so a new solver or loss is checked as soon as it is registered:

- every registered class is concrete: a fresh instance can be made from its fields;
- every class above it (inside tracegrad) is an ``Abstract*`` class, and it has no subclass
  of its own (concrete classes are final);
- no method or class attribute overrides a concrete one of a base (what a subclass may
  change is exactly what a base declares abstract);
- a copy of the class without any one of the abstract members it supplies cannot be
  instantiated (``TypeError``): forgetting one fails loudly, not at the first call.
"""

import dataclasses
import inspect

import pytest

from tracegrad.nmf import LOSSES, SOLVERS, Beta

REGISTERED = {
    **{f"solver {name}": obj for name, obj in SOLVERS.items()},
    **{f"loss {name}": obj for name, obj in LOSSES.items()},
    "loss beta=0.5": Beta(0.5),  # the general beta-divergence, reached by a float
}


def _ours(cls) -> bool:
    return cls.__module__.startswith("tracegrad.")


def _fields(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def _abstract_members(cls) -> set[str]:
    return set(cls.__abstractmethods__) | cls.__abstractvars__ | cls.__abstractclassvars__


def _supplied(cls) -> set[str]:
    """The abstract members of ``cls``'s bases that ``cls`` itself supplies."""
    wanted = set().union(*(_abstract_members(b) for b in cls.__bases__ if _ours(b)))
    own = set(vars(cls)) | set(inspect.get_annotations(cls))
    return wanted & own


def _without(cls, member: str) -> type:
    """``cls`` re-made from its own namespace, less ``member``."""
    namespace = {
        k: v
        for k, v in vars(cls).items()
        if k != member and (not k.startswith("_") or k in ("__module__", "__doc__"))
    }
    ann = inspect.get_annotations(cls)
    namespace["__annotations__"] = {k: v for k, v in ann.items() if k != member}
    return type(f"{cls.__name__}Without_{member}", cls.__bases__, namespace)


def _is_abstract(value) -> bool:
    return getattr(value, "__isabstractmethod__", False)


@pytest.mark.parametrize("label", REGISTERED)
def test_registered_class_is_concrete_and_final(label):
    obj = REGISTERED[label]
    cls = type(obj)
    assert not _abstract_members(cls), f"{label}: {cls.__name__} leaves {_abstract_members(cls)}"
    assert dataclasses.replace(obj) == obj  # a fresh instance from the fields
    assert not cls.__name__.startswith("Abstract")
    assert not cls.__subclasses__(), f"{label}: concrete {cls.__name__} is subclassed"
    for base in cls.__mro__[1:]:
        if _ours(base):
            assert base.__name__.startswith("Abstract"), f"{label}: concrete base {base}"


@pytest.mark.parametrize("label", REGISTERED)
def test_nothing_concrete_is_overridden(label):
    mro = [c for c in type(REGISTERED[label]).__mro__ if _ours(c)]
    for i, cls in enumerate(mro):
        for name in vars(cls):
            if name.startswith("_"):
                continue
            below = next((c for c in mro[i + 1 :] if name in vars(c)), None)
            assert below is None or _is_abstract(vars(below)[name]), (
                f"{cls.__name__}.{name} overrides the concrete {below.__name__}.{name}; "
                f"declare it abstract on {below.__name__} instead"
            )


@pytest.mark.parametrize("label", REGISTERED)
def test_a_class_missing_a_required_member_cannot_be_instantiated(label):
    obj = REGISTERED[label]
    cls = type(obj)
    supplied = _supplied(cls)
    assert supplied, f"{label}: {cls.__name__} supplies no abstract member of its bases"
    for member in sorted(supplied):
        broken = _without(cls, member)
        kwargs = {k: v for k, v in _fields(obj).items() if k != member}
        with pytest.raises(TypeError, match="abstract"):
            broken(**kwargs)
