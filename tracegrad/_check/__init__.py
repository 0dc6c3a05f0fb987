"""The checker wing: ``check_grad`` (``grad``) and ``check_hvp`` / ``check_hessian`` (``hvp``).

``references`` computes what both judge a candidate against (compiled autodiff, float64 finite
differences, random directions, the normwise measure), ``tolerances`` sets the bars, ``report``
holds the verdicts, and ``diagnosis`` names the likely mistake when a check fails.  The bottom
layer of tracegrad: nothing here imports the derive engine, the bridge, the registry, the
identities, Kalman or NMF.  The public names are re-exported from ``tracegrad``.
"""
