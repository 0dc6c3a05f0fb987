"""The identity registry: ``identity`` (``Identity``, one hand-derived gradient), ``registry``
(register, look up; loads the built-in ``tracegrad.identities`` on first use), ``shapespec``
(the ``shapes=`` declarations and the default sampler) and ``samplers`` (the samplers' building
blocks).  Above the checker, the derive engine and the bridge; below ``tracegrad.identities``.
The public names are re-exported from ``tracegrad``.
"""
