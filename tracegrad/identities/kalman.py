"""Identities from the Kalman gain derivation (``kalman.*``)."""
