"""The bridge: ``with_grad`` (``bridge``, a hand-derived gradient behind ``jax.custom_vjp``) and
its shadow mode (``shadow``, auditing that gradient against autodiff while it runs).  Public
names are re-exported from ``tracegrad``."""
