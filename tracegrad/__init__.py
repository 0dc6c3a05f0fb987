"""tracegrad: prove hand-derived matrix gradients right, then use them as fast drop-ins.

The public API is exactly what this module names.
"""

from . import kalman as kalman
from . import nmf as nmf
from ._bridge.bridge import Bridged as Bridged
from ._bridge.bridge import with_grad as with_grad
from ._bridge.shadow import GradientMismatchError as GradientMismatchError
from ._bridge.shadow import GradientMismatchWarning as GradientMismatchWarning
from ._bridge.shadow import ShadowMismatch as ShadowMismatch
from ._cache import CompilationCacheWarning as CompilationCacheWarning
from ._cache import enable_compilation_cache as enable_compilation_cache
from ._check.diagnosis.grad import diagnose as diagnose
from ._check.grad import assert_grad_close as assert_grad_close
from ._check.grad import check_grad as check_grad
from ._check.hvp import assert_hessian_close as assert_hessian_close
from ._check.hvp import assert_hvp_close as assert_hvp_close
from ._check.hvp import check_hessian as check_hessian
from ._check.hvp import check_hvp as check_hvp
from ._check.report import GradReport as GradReport
from ._check.report import HVPReport as HVPReport
from ._check.report import PropertyResult as PropertyResult
from ._check.report import ReferenceResult as ReferenceResult
from ._check.tolerances import default_atol as default_atol
from ._check.tolerances import default_rtol as default_rtol
from ._check.tolerances import tolerances as tolerances
from ._derive import Derivation as Derivation
from ._derive import DeriveDomainError as DeriveDomainError
from ._derive import DeriveError as DeriveError
from ._derive import DeriveInternalError as DeriveInternalError
from ._derive import DerivePrecedenceWarning as DerivePrecedenceWarning
from ._derive import DeriveShapeError as DeriveShapeError
from ._derive import DeriveSyntaxError as DeriveSyntaxError
from ._derive import Jacobian as Jacobian
from ._derive import derive as derive
from ._registry.identity import Identity as Identity
from ._registry.identity import Sampler as Sampler
from ._registry.registry import add as add
from ._registry.registry import identity as identity
from ._registry.registry import register as register
from ._registry.registry import registry as registry
from ._registry.registry import unregister as unregister
from ._version import __version__ as __version__
