"""The built-in identities, one module per source document (each identity cites its equation).

* ``trace_notes``: J. Traa, "Matrix Calculus - Notes on the Derivative of a Trace" (``traa.*``).
* ``kalman``: the Kalman gain derivation (``kalman.*``).
* ``matrix_calculus``: P. Hu, "Matrix Calculus: Derivation and Simple Application" (``hu.*``).

Importing this package registers them; ``tracegrad.registry()`` does so on first use.
"""

from . import kalman, matrix_calculus, trace_notes  # noqa: F401  (registration side effect)
