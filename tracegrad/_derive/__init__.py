"""``tracegrad.derive``: a symbolic trace-calculus engine (trace notes eq. 9, 12, 18-21).

The expression language (EBNF; whitespace is insignificant except that a name glued to ``(``
is a function call)::

    expression  = sum ;
    sum         = elementwise { ( "+" | "-" ) elementwise } ;
    elementwise = product { ( "⊙" | ".*" | "∘" | "⊘" | "./" ) product } ;
    product     = unary { [ "*" | "/" ] unary } ;          (* no operator: juxtaposition *)
    unary       = "-" unary | postfix ;
    postfix     = primary { "'" | "^T" | "ᵀ" | "^-T" | "^" exponent | ".^" exponent } ;
    exponent    = [ "-" ] number ;
    primary     = number | name | "I" | "J" | "pi" | "π"
                | function "(" sum ")" | ( "max" | "kron" ) "(" sum "," sum ")"
                | "(" sum ")" | "[" sum "]"
                | ( "||" | "‖" ) sum ( "||" | "‖" ) [ "_F" ] ;
    function    = "tr" | "Tr" | "trace" | "inv" | "det" | "logdet" | "diag"
                | "log" | "exp" | "sum" | "norm"
                | "abs" | "sign" | "sqrt" | "tanh" | "sigmoid" | "softplus" | "sin" | "cos"
                | "relu" | "step" ;    (* the elementwise functions: Elementwise.spellings *)

Meaning:

* Names are matrices; a name starting with a lowercase letter is a column vector unless
  ``shapes`` says otherwise (``x'`` is a row).  ``I`` is the identity and ``J`` the all-ones
  matrix (``J`` of the notes' eq. 32, or a ones vector ``1``), their sizes inferred.
* Precedence, loosest first: ``+ -``; ``⊙ ⊘`` (elementwise, left-associative); products
  (juxtaposition, ``*``, ``/`` by a scalar); unary minus; postfix transpose and powers.  So
  ``A^T 1 ⊙ B 1`` is ``(A^T 1) ⊙ (B 1)`` and ``V ⊘ A X B`` is ``V ⊘ (A X B)``, as the trace
  notes write them (eq. 34, 27).
* A factor known to be 1x1 (a number, ``tr``, ``det``, ``logdet``, ``sum``, a norm, ``a' x``)
  multiplies, adds to and divides anything as a scalar: ``2 X``, ``tr(A) X``, ``X / det(X)``,
  ``log(X) + 1``.
* ``E^p`` is a scalar power (``||E||_F^2``), ``E^-1`` the inverse, ``E^-T`` the inverse
  transpose, ``E.^p`` the elementwise power.  ``log``, ``exp`` are elementwise; ``logdet`` is
  ``log|det|``; ``diag(x)`` of a vector is the diagonal matrix, ``diag(M)`` of a square matrix
  its diagonal as a vector; ``||E||_F``/``norm(E)``/``||E||`` is the Frobenius norm (for a
  vector the Euclidean norm); ``sum(E)`` adds all entries.
* ``X^k`` (integer ``k``, square ``X``) is the matrix power; ``kron(A, B)`` the Kronecker
  product; ``abs sign sqrt tanh sigmoid softplus sin cos relu step`` are elementwise and
  ``max(A, B)`` the elementwise maximum (subgradients: ``d|x| = sign(x)``, ``relu'(0) = 0``,
  a tie of ``max`` goes to its first argument).  ``J`` may be given a shape in ``shapes``.
* ``⊙``/``⊘`` bind more loosely than products; where MATLAB or NumPy would read
  ``A ⊙ B C`` as ``(A ⊙ B) C`` a ``DerivePrecedenceWarning`` says so.
* A scalar (1x1) objective gives the gradient (``order=2``: also the Hessian-vector product
  and the Hessian); a vector- or matrix-valued one gives its Jacobian (``Jacobian``).

The operators are the node classes of ``_ast`` (data and shape rule); each pass keeps one
table keyed by node class: reverse rules (``_rules``), forward rules and Jacobians
(``_forward``), rebuild in normal form (``_simplify``), lowering (``_codegen``), printing
(``_printing``).  The derive documentation page says how to add an operator.
"""

from ._cli import cli_main as cli_main
from ._derivation import Derivation as Derivation
from ._derivation import Term as Term
from ._derivation import derive as derive
from ._errors import DeriveDomainError as DeriveDomainError
from ._errors import DeriveError as DeriveError
from ._errors import DeriveInternalError as DeriveInternalError
from ._errors import DerivePrecedenceWarning as DerivePrecedenceWarning
from ._errors import DeriveShapeError as DeriveShapeError
from ._errors import DeriveSyntaxError as DeriveSyntaxError
from ._jacobian import Jacobian as Jacobian
