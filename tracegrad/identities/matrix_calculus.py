"""Identities from P. Hu, "Matrix Calculus: Derivation and Simple Application" (``hu.*``)."""
