"""Stability of NMF restarts: consensus, cophenetic correlation, dispersion, silhouette.

Host-side NumPy on the fitted factors (small: restarts x K x (M + N)), so the library needs
no SciPy; the tests check these against SciPy and scikit-learn.

- Consensus matrix (Brunet et al. 2004, "Metagenes and molecular pattern discovery using
  matrix factorization", Methods): each restart assigns sample ``j`` (column ``j`` of ``V``)
  to the component ``argmax_k H[k, j]``; its connectivity matrix is 1 where two samples share
  a component; the consensus ``C`` is the mean connectivity over restarts.
- Cophenetic correlation (same paper): the Pearson correlation between the distances
  ``1 - C`` and the cophenetic distances of the average-linkage (UPGMA) dendrogram of
  ``1 - C``, over all pairs of distinct samples; 1 for a perfectly consistent consensus.
- Dispersion (Kim & Park 2007, "Sparse non-negative matrix factorizations via alternating
  non-negativity-constrained least squares for microarray data analysis", eq. 12):
  ``rho = 1/N^2 sum_ij 4 (C_ij - 1/2)^2``, in ``[0, 1]``, 1 for a binary consensus.
- Silhouette of the clustered components (as SigProfilerExtractor does): the restarts' ``W``
  columns are grouped into ``K`` clusters holding exactly one component of every restart, by
  matching each restart to the cluster centroids with the Hungarian algorithm on cosine
  similarity (starting from the best restart, re-matching to the new centroids until the
  assignment stops changing); the silhouette (Rousseeuw 1987) uses cosine distance.
"""

from __future__ import annotations

import numpy as np

MATCH_ROUNDS = 10
"""Re-matching rounds of ``cluster_components`` at most (it stops when nothing changes)."""


def consensus_matrix(H: np.ndarray) -> np.ndarray:
    """Mean connectivity of the restarts' ``argmax`` sample assignments (Brunet et al. 2004).

    Args:
        H: ``(R, K, N)`` the restarts' ``H`` factors.

    Returns:
        ``(N, N)`` consensus ``C`` with entries in ``[0, 1]`` and unit diagonal.
    """
    H = np.asarray(H)
    R, K, N = H.shape
    labels = np.argmax(H, axis=1)  # (R, N)
    onehot = np.zeros((N, R * K))
    onehot[np.arange(N)[None, :], labels + K * np.arange(R)[:, None]] = 1.0
    return onehot @ onehot.T / R


def dispersion(C: np.ndarray) -> float:
    """Kim & Park (2007) dispersion ``1/N^2 sum_ij 4 (C_ij - 1/2)^2`` of a consensus matrix."""
    C = np.asarray(C, np.float64)
    return float(np.mean(4.0 * (C - 0.5) ** 2))


def average_linkage(D: np.ndarray) -> list[tuple[list[int], list[int], float]]:
    """Average-linkage (UPGMA) agglomeration of a symmetric distance matrix.

    The nearest-neighbour-chain algorithm (Murtagh 1983; exact for average linkage, which is
    reducible) with Lance-Williams updates ``d(k, i+j) = (n_i d(k, i) + n_j d(k, j)) /
    (n_i + n_j)``: ``O(N^2)`` time, each step one NumPy pass over a row.

    Args:
        D: ``(N, N)`` symmetric, non-negative distances (the diagonal is ignored).

    Returns:
        The ``N - 1`` merges as ``(members_a, members_b, height)``, in the order made (not
        sorted by height).
    """
    D = np.array(D, np.float64)
    n = D.shape[0]
    np.fill_diagonal(D, np.inf)
    size = np.ones(n)
    members: list[list[int]] = [[i] for i in range(n)]
    alive = np.ones(n, bool)
    merges: list[tuple[list[int], list[int], float]] = []
    chain: list[int] = []
    while len(merges) < n - 1:
        if not chain:
            chain.append(int(np.flatnonzero(alive)[0]))
        a = chain[-1]
        row = np.where(alive, D[a], np.inf)
        row[a] = np.inf
        b = int(np.argmin(row))
        # prefer the previous chain element on a tie, so the chain cannot cycle
        if len(chain) > 1 and row[chain[-2]] <= row[b]:
            b = chain[-2]
        if len(chain) > 1 and b == chain[-2]:
            chain.pop()
            chain.pop()
            h = float(D[a, b])
            merges.append((members[a], members[b], h))
            new = (size[a] * D[a] + size[b] * D[b]) / (size[a] + size[b])
            D[a] = new
            D[:, a] = new
            D[a, a] = np.inf
            D[b] = np.inf
            D[:, b] = np.inf
            alive[b] = False
            size[a] += size[b]
            members[a] = members[a] + members[b]
            members[b] = []
        else:
            chain.append(b)
    return merges


def cophenetic_matrix(D: np.ndarray) -> np.ndarray:
    """Cophenetic distances of the average-linkage dendrogram of ``D``: the height at which
    two samples first share a cluster (0 on the diagonal)."""
    n = np.shape(D)[0]
    out = np.zeros((n, n))
    for a, b, h in average_linkage(D):
        out[np.ix_(a, b)] = h
        out[np.ix_(b, a)] = h
    return out


def cophenetic_correlation(C: np.ndarray) -> float:
    """Cophenetic correlation of a consensus matrix (Brunet et al. 2004).

    Pearson correlation, over pairs ``i < j``, of ``1 - C_ij`` with the cophenetic distance of
    the average-linkage dendrogram of ``1 - C``.  When the distances are all equal (one
    cluster, or fewer than 3 samples) the correlation is undefined: 1.0 if ``C`` is binary
    (perfectly consistent), else NaN.
    """
    C = np.asarray(C, np.float64)
    n = C.shape[0]
    D = 1.0 - C
    iu = np.triu_indices(n, 1)
    d = D[iu]
    binary = bool(np.all((C == 0) | (C == 1)))
    if n < 3 or np.ptp(d) == 0:
        return 1.0 if binary else float("nan")
    c = cophenetic_matrix(D)[iu]
    if np.ptp(c) == 0:
        return 1.0 if binary else float("nan")
    return float(np.corrcoef(d, c)[0, 1])


def hungarian(cost: np.ndarray) -> np.ndarray:
    """Minimum-cost perfect matching of a square cost matrix (Kuhn-Munkres, ``O(K^3)``).

    The shortest-augmenting-path form with row and column potentials (Jonker-Volgenant style).

    Returns:
        ``col`` with ``col[i]`` the column matched to row ``i``.
    """
    cost = np.asarray(cost, np.float64)
    n = cost.shape[0]
    u = np.zeros(n + 1)
    v = np.zeros(n + 1)
    p = np.zeros(n + 1, int)  # p[j]: row matched to column j (1-based, 0 = none)
    way = np.zeros(n + 1, int)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = np.full(n + 1, np.inf)
        used = np.zeros(n + 1, bool)
        while True:
            used[j0] = True
            i0 = p[j0]
            cur = cost[i0 - 1] - u[i0] - v[1:]
            free = ~used[1:]
            better = free & (cur < minv[1:])
            minv[1:] = np.where(better, cur, minv[1:])
            way[1:] = np.where(better, j0, way[1:])
            cand = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(cand)) + 1
            delta = cand[j1 - 1]
            u[p[used]] += delta
            v[used] -= delta
            minv[1:] = np.where(free, minv[1:] - delta, minv[1:])
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    col = np.zeros(n, int)
    col[p[1:] - 1] = np.arange(n)
    return col


def _unit_columns(W: np.ndarray) -> np.ndarray:
    # columns scaled to unit L2 norm; a zero column stays zero (cosine distance 1 to all)
    nrm = np.linalg.norm(W, axis=-2, keepdims=True)
    return np.where(nrm > 0, W / np.where(nrm > 0, nrm, 1.0), 0.0)


def cluster_components(W: np.ndarray, reference: int = 0) -> np.ndarray:
    """Group the restarts' components into ``K`` clusters of one component per restart.

    Starting from the components of restart ``reference`` as centroids, each restart's
    components are matched one-to-one to the centroids by the Hungarian algorithm on cosine
    similarity, the centroids become the mean of their unit-norm members, and this repeats
    until the matching stops changing (at most ``MATCH_ROUNDS`` rounds).

    Args:
        W: ``(R, M, K)`` the restarts' ``W`` factors.
        reference: restart whose components seed the centroids (the best one).

    Returns:
        ``(R, K)`` int: ``perm[r, c]`` is the component of restart ``r`` in cluster ``c``.
    """
    U = _unit_columns(np.asarray(W, np.float64))
    R, _, K = U.shape
    centroids = U[reference]
    perm = np.tile(np.arange(K), (R, 1))
    for _ in range(MATCH_ROUNDS):
        new = np.empty_like(perm)
        for r in range(R):
            sim = centroids.T @ U[r]  # (cluster, component)
            new[r] = hungarian(-sim)
        changed = not np.array_equal(new, perm)
        perm = new
        centroids = _unit_columns(np.mean(U[np.arange(R)[:, None], :, perm].transpose(0, 2, 1), 0))
        if not changed:
            break
    return perm


def silhouette(W: np.ndarray, perm: np.ndarray) -> float:
    """Mean silhouette (cosine distance) of the clustered components of ``cluster_components``.

    For component ``i`` in cluster ``c``: ``a`` = mean distance to the other members of ``c``,
    ``b`` = the smallest mean distance to the members of another cluster, ``s = (b - a) /
    max(a, b)`` (0 when both are 0), averaged over all ``R K`` components.  ``K = 1``: 1.0 (one
    cluster holding every component).  Fewer than 2 restarts: NaN (nothing to compare).
    """
    U = _unit_columns(np.asarray(W, np.float64))
    R, _, K = U.shape
    if R < 2:
        return float("nan")
    if K == 1:
        return 1.0
    X = U[np.arange(R)[:, None], :, perm].reshape(R * K, -1)  # rows in cluster order per restart
    labels = np.tile(np.arange(K), R)
    dist = np.clip(1.0 - X @ X.T, 0.0, 2.0)
    onehot = np.eye(K)[labels]  # (RK, K)
    sums = dist @ onehot  # (RK, K): total distance to each cluster
    counts = onehot.sum(0)
    own = labels
    a = sums[np.arange(R * K), own] / (counts[own] - 1)
    other = sums / counts
    other[np.arange(R * K), own] = np.inf
    b = other.min(1)
    den = np.maximum(a, b)
    s = np.where(den > 0, (b - a) / np.where(den > 0, den, 1.0), 0.0)
    return float(np.mean(s))
