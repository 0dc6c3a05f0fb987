"""The identity registry: ``identity`` (``Identity``, one hand-derived gradient), ``registry``
(register, look up; loads the built-in ``tracegrad.identities`` on first use), ``shapespec``
(the ``shapes=`` declarations and the default sampler), ``samplers`` (the samplers' building
blocks) and ``expressions`` (the registry's identities in the ``derive`` language, for
scripts).  Above the checker, the derive engine and the bridge; below ``tracegrad.identities``.
The public names are re-exported from ``tracegrad``.
"""
