"""Test-session configuration: x64 on for the whole session (float32 paths are tested explicitly).

The library itself never touches this flag; only the test session does, as users' suites may.
"""

import jax

jax.config.update("jax_enable_x64", True)
