"""Naming the mistake in a wrong derivative: ``grad`` (first order), ``hvp`` (second order), and
``terms``, the per-appearance split of an objective's jaxpr both use."""
