"""tracegrad: prove hand-derived matrix gradients right, then use them as fast drop-ins.

The public API is exactly what this module names.
"""

from . import kalman as kalman
from . import nmf as nmf
from ._bridge import Bridged as Bridged
from ._bridge import with_grad as with_grad
from ._cache import CompilationCacheWarning as CompilationCacheWarning
from ._cache import enable_compilation_cache as enable_compilation_cache
from ._check import assert_grad_close as assert_grad_close
from ._check import check_grad as check_grad
from ._check_hvp import assert_hessian_close as assert_hessian_close
from ._check_hvp import assert_hvp_close as assert_hvp_close
from ._check_hvp import check_hessian as check_hessian
from ._check_hvp import check_hvp as check_hvp
from ._derive import Derivation as Derivation
from ._derive import DeriveDomainError as DeriveDomainError
from ._derive import DeriveError as DeriveError
from ._derive import DeriveInternalError as DeriveInternalError
from ._derive import DerivePrecedenceWarning as DerivePrecedenceWarning
from ._derive import DeriveShapeError as DeriveShapeError
from ._derive import DeriveSyntaxError as DeriveSyntaxError
from ._derive import Jacobian as Jacobian
from ._derive import derive as derive
from ._diagnose import diagnose as diagnose
from ._identity import Identity as Identity
from ._identity import Sampler as Sampler
from ._registry import add as add
from ._registry import identity as identity
from ._registry import register as register
from ._registry import registry as registry
from ._registry import unregister as unregister
from ._report import GradReport as GradReport
from ._report import ReferenceResult as ReferenceResult
from ._report_hvp import HVPReport as HVPReport
from ._report_hvp import PropertyResult as PropertyResult
from ._shadow import GradientMismatchError as GradientMismatchError
from ._shadow import GradientMismatchWarning as GradientMismatchWarning
from ._shadow import ShadowMismatch as ShadowMismatch
from ._tolerances import default_atol as default_atol
from ._tolerances import default_rtol as default_rtol
from ._tolerances import tolerances as tolerances
from ._version import __version__ as __version__
