"""The background planes of all images at once (``background.solver: lsq``).

One job: Montage's fits table (``fits.tbl``, as mDiffFitExec writes it) and
the projected images' table in, Montage's corrections table
(``corrections.tbl``, as mBgModel writes it) out, so that mBackground and
mBgExec apply it unchanged. A sparse weighted least-squares problem over all
overlap fits, solved directly, where mBgModel iterates towards the same kind
of minimum one image at a time.

Montage's conventions, which this follows exactly:

- One pixel frame for all projected images (they share the region's
  projection): pixel (i, j), 0-based, of an image is at x = i - CRPIX1,
  y = j - CRPIX2. mBackground subtracts ``a*x + b*y + c`` there; mFitplane
  fits ``a*x + b*y + c`` to a difference image in the same frame.
- A fit row (plus p, minus m) is the plane of image p minus image m over the
  overlap's box: centre (boxx, boxy), boxwidth x boxheight, rotated by boxang
  degrees (x = X cos - Y sin, y = X sin + Y cos, as mBgModel reads it).
- The corrections P_i make P_p - P_m match every fit.

The problem: minimise over the planes P_i (levels only with ``level_only``)
the sum over fits k of w_k * (integral over box_k of (fit_k - P_p + P_m)^2),
the integrals scaled to the fit's pixel count ``npixel`` (mBgModel sums the
same box integrals, unweighted). Each image's plane is solved about its own
centre in units of its half-size, and each fit is written in its box's
orthogonal basis (1, X/half-width, Y/half-height), so the normal equations
stay well conditioned however far an image is from the reference pixel.

- Weights: w_k = 1 / rms_k^2: with the ``npixel`` scaling, the inverse
  variance of the overlap's mean difference.
- Outliers (a satellite trail or a bright star's halo in one overlap): a
  fit whose residual, in units of its own error, is beyond 5 x 1.4826 x the
  median of all is rejected (weight x 1e-6) if no fit sharing an image with
  it is further off (one bad fit throws its neighbours' residuals off too);
  re-solved until the rejected set settles, a rejected fit coming back once
  it fits. Without outliers no fit loses weight. A fit that alone links two
  parts of a group always fits exactly, so it is never rejected.
- Slopes: on large fields the least-squares solution leaves a smooth bowl
  over the mosaic (coherent slopes with matching level steps change the
  overlaps' differences little), so each image's slopes get a Gaussian prior
  about the group's: its variance is the spread (1.4826 x MAD) of the
  least-squares slopes, scaled to the fits' residual variance (their
  nominal errors where no fit is redundant), so exact fits are not pulled
  at all. (docs/results/2026-12-07.md, section 7, has the measurements.)
- Fits mBgModel ignores are ignored: an rms that is not finite, or fewer
  pixels than 0.001 of the average image (``montage.BGMODEL_AREA_LIMIT``).
- Gauge: differences fix the planes only up to one plane common to each
  connected group of images. Each group is solved with one image's level
  pinned, then shifted by the common plane that makes its images' slopes
  zero on average and its level zero on average, both weighted by each
  image's overlap area (the sum of its fits' box areas, as mBgModel sums
  them). For the level that is the quantity mBgModel's updates conserve from
  their zero start (each update is the box-weighted mean of antisymmetric
  residuals), so the mosaic keeps mBgModel's absolute level. mBgModel's
  slopes start at zero too but its level-only first iterations leave their
  mean to chance; a zero mean does not tilt the mosaic.
- Images without a usable fit get a zero correction, as with mBgModel.
"""

import math

import numpy as np

from ..files import atomic, tables
from . import BGMODEL_AREA_LIMIT

# Fits whose residual is beyond this many robust sigmas are outliers: they get
# (almost) no weight and the others their full weight, so clean fields lose
# nothing (a smooth redescending weight such as Tukey's down-weights good fits
# of unequal errors too).
REJECT = 5.0
MAX_ROUNDS = 50
# An outlier keeps this much of its weight: nothing beside real fits, but a fit
# that alone links two images still fixes their offset.
OUTLIER_WEIGHT = 1e-6
MAX_ROUNDS = 20
# mBgModel's row format (montageBgModel.c), so mBgExec reads ours as its own.
CORRECTIONS_HEADER = "|   id   |      a       |      b       |      c       |\n"
CORRECTIONS_ROW = " %8d  %13.5e  %13.5e  %13.5e\n"


class Solution:
    """Planes (a, b, c) by image ``cntr``, and what the solve did."""

    def __init__(self, planes, used, ignored, rejected, groups, rounds):
        self.planes = planes
        self.used = used
        self.ignored = ignored
        self.rejected = rejected
        self.groups = groups
        self.rounds = rounds

    def summary(self):
        return (
            f"fits used: {self.used}, ignored as mBgModel does: {self.ignored}, "
            f"rejected as outliers: {self.rejected}; groups of images: {self.groups}; "
            f"robust rounds: {self.rounds}"
        )


def solve_tables(projected_tbl, fits_tbl, corrections_tbl, level_only=False):
    """Read both tables, solve, write ``corrections_tbl`` (atomically); return the Solution.

    Parameters
    ----------
    projected_tbl : str
        The projected images' Montage table (cntr, naxis1/2, crpix1/2 in pixels).
    fits_tbl : str
        mDiffFitExec's fits table.
    corrections_tbl : str
        The corrections table to write, as mBgModel writes it.
    level_only : bool
        Solve levels only (slopes zero).

    Returns
    -------
    Solution
        The planes and what the solve did.
    """
    images = tables.read_ipac(projected_tbl)
    fits = tables.read_ipac(fits_tbl)
    solution = solve(images, fits, level_only)
    write_corrections(corrections_tbl, solution.planes)
    return solution


def write_corrections(path, planes):
    """mBgModel's corrections table: one row per image, in ``cntr`` order.

    Parameters
    ----------
    path : str
        The table to write (atomically).
    planes : dict
        {cntr: (a, b, c)}: a, b in data units per pixel, c in data units.
    """
    rows = [CORRECTIONS_ROW % (cntr, *planes[cntr]) for cntr in sorted(planes)]
    atomic.write_text(path, CORRECTIONS_HEADER + "".join(rows))


def solve(images, fits, level_only=False, robust=True):
    """Correction planes for ``images`` from ``fits`` (the module's docstring has the method).

    Parameters
    ----------
    images : list of dict
        Projected-table rows: cntr, naxis1, naxis2, crpix1, crpix2 (pixels).
    fits : list of dict
        Fits-table rows: plus, minus (cntr), a, b (data units per pixel), c (data
        units), boxx, boxy, boxwidth, boxheight (pixels), boxang (degrees), npixel,
        rms (data units). Values may be strings, as read from the tables.
    level_only : bool
        Solve levels only (slopes zero).
    robust : bool
        Reject outlier fits.

    Returns
    -------
    Solution
        ``planes``: {cntr: (a, b, c)} in Montage's frame (x = i - CRPIX1, y = j - CRPIX2,
        pixels; a, b in data units per pixel, c in data units), and the counts of the solve.
    """
    cntr = np.array([int(row["cntr"]) for row in images])
    index = {int(c): i for i, c in enumerate(cntr)}
    size = np.array([[float(row["naxis1"]), float(row["naxis2"])] for row in images]).reshape(-1, 2)
    crpix = np.array([[float(row["crpix1"]), float(row["crpix2"])] for row in images]).reshape(-1, 2)
    centre = (size - 1) / 2 - crpix
    scale = np.maximum(size.max(axis=1) / 2, 1.0)

    f = _fit_arrays(fits, index)
    area_limit = BGMODEL_AREA_LIMIT * float(np.mean(size[:, 0] * size[:, 1])) if len(images) else 0.0
    usable = np.isfinite(f["rms"]) & (f["rms"] < 1e99) & (f["npixel"] >= area_limit) & (f["plus"] != f["minus"])
    ignored = int((~usable).sum())
    f = {name: values[usable] for name, values in f.items()}

    n_images, params = len(images), 1 if level_only else 3
    groups, label = image_groups(n_images, f["plus"], f["minus"])
    local = np.zeros((n_images, params))
    rejected, rounds = 0, 0
    if len(f["plus"]):
        design, target, rows_per_fit = _system(f, centre, scale, params)
        free = _free_columns(n_images, params, f["plus"], label)
        solution, rejected, rounds = _robust_solve(
            design, target, rows_per_fit, f["rms"], free, label >= 0, (f["plus"], f["minus"]), robust
        )
        local = solution.reshape(n_images, params)
    planes = _global_planes(local, centre, scale, level_only)
    planes = _gauge(planes, f, label)
    by_cntr = {int(c): tuple(float(v) for v in planes[i]) for i, c in enumerate(cntr)}
    return Solution(by_cntr, len(f["plus"]), ignored, rejected, groups, rounds)


def _fit_arrays(fits, index):
    names = ("a", "b", "c", "boxx", "boxy", "boxwidth", "boxheight", "boxang", "npixel", "rms")
    arrays = {name: np.array([_number(row[name]) for row in fits], dtype=float) for name in names}
    try:
        arrays["plus"] = np.array([index[int(row["plus"])] for row in fits], dtype=int)
        arrays["minus"] = np.array([index[int(row["minus"])] for row in fits], dtype=int)
    except KeyError as missing:
        raise ValueError(f"the fits table names image {missing}, which the image table does not have") from None
    return arrays


def _number(text):
    # mBgModel reads an rms containing "inf" or "nan" as unusable; float() reads both.
    return float(text)


def image_groups(n_images, plus, minus):
    """The connected groups of images that the fits link.

    Parameters
    ----------
    n_images : int
        How many images.
    plus, minus : numpy.ndarray of int
        Per fit, the indices (0 .. n_images - 1) of its two images.

    Returns
    -------
    groups : int
        Number of groups with a fit.
    label : numpy.ndarray of int
        Group label per image; -1 for an image without a usable fit.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    links = coo_matrix((np.ones(len(plus)), (plus, minus)), shape=(n_images, n_images))
    _, label = connected_components(links, directed=False)
    linked = np.zeros(n_images, bool)
    linked[plus] = linked[minus] = True
    label = np.where(linked, label, -1)
    return len(set(label[linked].tolist())), label


def _basis(f):
    """Per fit: (box centre x, y; cos, sin of the box angle; half-width, half-height)."""
    angle = np.radians(f["boxang"])
    half_w = np.maximum(f["boxwidth"] / 2, 0.5)
    half_h = np.maximum(f["boxheight"] / 2, 0.5)
    return f["boxx"], f["boxy"], np.cos(angle), np.sin(angle), half_w, half_h


def _system(f, centre, scale, params):
    """The unweighted design matrix (rows: fits x box basis, columns: images x
    local plane parameters), the fits in the same basis, and rows per fit.

    An image's local parameters (A', B', C') are its plane's slopes times its
    half-size and its value at its centre. In a fit's box basis (value at the
    box centre, change over half the box along X, along Y), a plane is
    M @ (A', B', C') with M as below; rows are scaled by the square root of
    the basis functions' integrals over the box (npixel x (1, 1/3, 1/3)).
    """
    from scipy.sparse import coo_matrix

    bx, by, cos, sin, half_w, half_h = _basis(f)
    n_fits = len(bx)
    root = np.sqrt(f["npixel"])
    rows_per_fit = 1 if params == 1 else 3
    values, row_index, col_index = [], [], []
    target = np.empty((n_fits, rows_per_fit))
    target[:, 0] = f["a"] * bx + f["b"] * by + f["c"]
    if params == 3:
        target[:, 1] = half_w * (f["a"] * cos + f["b"] * sin)
        target[:, 2] = half_h * (-f["a"] * sin + f["b"] * cos)
    weight = root[:, None] * np.array([1.0, 1 / math.sqrt(3), 1 / math.sqrt(3)])[:rows_per_fit]
    target *= weight
    fit_rows = np.arange(n_fits) * rows_per_fit
    for image, sign in ((f["plus"], 1.0), (f["minus"], -1.0)):
        s, (u, v) = scale[image], centre[image].T
        if params == 1:
            blocks = {(0, 0): np.ones(n_fits)}
        else:
            blocks = {
                (0, 0): (bx - u) / s,
                (0, 1): (by - v) / s,
                (0, 2): np.ones(n_fits),
                (1, 0): half_w * cos / s,
                (1, 1): half_w * sin / s,
                (2, 0): -half_h * sin / s,
                (2, 1): half_h * cos / s,
            }
        for (row, column), value in blocks.items():
            values.append(sign * value * weight[:, row])
            row_index.append(fit_rows + row)
            col_index.append(image * params + column)
    n_columns = len(centre) * params
    design = coo_matrix(
        (np.concatenate(values), (np.concatenate(row_index), np.concatenate(col_index))),
        shape=(n_fits * rows_per_fit, n_columns),
    ).tocsr()
    return design, target.ravel(), rows_per_fit


def _free_columns(n_images, params, plus, label):
    """Columns solved for: every parameter of every linked image but one image
    per group (pinned at zero; the gauge is fixed afterwards)."""
    free = np.zeros(n_images, bool)
    free[label >= 0] = True
    seen = set()
    for image in range(n_images):
        if label[image] >= 0 and label[image] not in seen:
            seen.add(label[image])
            free[image] = False
    return np.repeat(free, params)


def _robust_solve(design, target, rows_per_fit, rms, free, linked, fit_images, robust):
    """Local parameters per image (pinned and unlinked ones zero), the number
    of fits rejected as outliers and the rounds of re-weighting."""
    reduced = design[:, np.flatnonzero(free)].tocsc()
    positive = rms[rms > 0]
    floor = 1e-3 * float(np.median(positive)) if len(positive) else 1.0
    base = 1.0 / np.maximum(rms, floor) ** 2
    rejected = np.zeros(len(rms), bool)
    rounds = 0
    while True:
        rounds += 1
        weight = base * np.where(rejected, OUTLIER_WEIGHT, 1.0)
        solution = _weighted_solve(design, reduced, target, weight, rows_per_fit, free)
        if not robust or rounds >= MAX_ROUNDS:
            break
        residual = (target - design @ solution).reshape(-1, rows_per_fit)
        # fit minus model over the box, in units of the fit's own error (rows carry sqrt(npixel))
        size = np.sqrt(base * (residual**2).sum(axis=1) / rows_per_fit)
        now = _outliers(size, rejected, fit_images, len(linked))
        if np.array_equal(now, rejected):
            break
        rejected = now
    if design.shape[1] == 3 * len(linked):
        # in the data's own units: the weights' scale is 1 / rms^2, the residuals' is what they are
        residual = np.repeat(np.sqrt(weight), rows_per_fit) * (target - design @ solution)
        dof = int((~rejected).sum()) * rows_per_fit - int(free.sum())
        # without redundancy (a tree of fits, met exactly) the fits' own errors are taken at face value
        variance = float(residual @ residual) / dof if dof > 0 else 1.0
        prior = variance * _slope_prior(solution.reshape(-1, 3), linked)
        # The prior fixes the group's common slopes (gauge directions), so only levels stay pinned.
        free = free | np.repeat(linked, 3) & np.tile([True, True, False], len(linked))
        reduced = design[:, np.flatnonzero(free)].tocsc()
        solution = _weighted_solve(design, reduced, target, weight, rows_per_fit, free, prior)
    return solution, int(rejected.sum()), rounds


def _outliers(size, rejected, fit_images, n_images):
    """The next set of rejected fits: residuals in units of their own errors,
    standardised by 1.4826 x their median over the kept fits (at least 1: a
    residual within the fit's statistical error is never an outlier), beyond REJECT. A
    rejected fit that now fits comes back; a new one is rejected only if no
    fit sharing an image with it is further off, since one bad fit also
    throws its neighbours' residuals off."""
    kept = ~rejected
    sigma = max(1.4826 * float(np.median(size[kept])) if kept.any() else 0.0, 1.0)
    z = size / sigma
    plus, minus = fit_images
    worst = np.zeros(n_images)
    np.maximum.at(worst, plus[kept], z[kept])
    np.maximum.at(worst, minus[kept], z[kept])
    new = kept & (z > REJECT) & (z >= worst[plus]) & (z >= worst[minus])
    return (rejected & (z > REJECT)) | new


def _weighted_solve(design, reduced, target, weight, rows_per_fit, free, prior=None):
    """The weighted least-squares parameters (normal equations, sparse LU)."""
    from scipy.sparse import diags
    from scipy.sparse.linalg import spsolve

    row_weight = np.repeat(np.sqrt(weight), rows_per_fit)
    weighted = diags(row_weight) @ reduced
    normal = (weighted.T @ weighted).tocsc()
    # A tie-breaker for directions no fit constrains (a zero-width box), far below every real term.
    diagonal = np.full(normal.shape[0], 1e-12 * float(normal.diagonal().max()))
    if prior is not None:
        diagonal += prior[free]
    solution = np.zeros(design.shape[1])
    solution[free] = np.atleast_1d(spsolve(normal + diags(diagonal), weighted.T @ (row_weight * target)))
    return solution


def _slope_prior(local, linked):
    """Per parameter, the inverse variance of each image's slopes (x and y
    apart, in local units) about the group's, from the spread of the
    least-squares slopes: 0 for levels."""
    prior = np.zeros(local.shape)
    for axis in (0, 1):
        slopes = local[linked, axis]
        if len(slopes) < 3:
            continue
        spread = 1.4826 * float(np.median(np.abs(slopes - np.median(slopes))))
        if spread > 0:
            prior[:, axis] = 1.0 / spread**2
    return prior.ravel()


def _global_planes(local, centre, scale, level_only):
    """(a, b, c) in Montage's common frame from the local parameters."""
    planes = np.zeros((len(local), 3))
    if level_only:
        planes[:, 2] = local[:, 0]
        return planes
    a = local[:, 0] / scale
    b = local[:, 1] / scale
    planes[:, 0], planes[:, 1] = a, b
    planes[:, 2] = local[:, 2] - a * centre[:, 0] - b * centre[:, 1]
    return planes


def _gauge(planes, f, label):
    """Shift each group by the common plane that leaves its overlap-weighted
    mean slopes zero and its overlap-weighted mean level where mBgModel's
    iteration keeps it (see the module's docstring)."""
    if not len(f["plus"]):
        return planes
    area = f["boxwidth"] * f["boxheight"]
    planes = planes.copy()
    n_groups = int(label.max()) + 1
    weight = np.zeros(len(planes))
    for image in (f["plus"], f["minus"]):
        np.add.at(weight, image, area)
    for group in range(n_groups):
        members = label == group
        if not members.any() or not weight[members].sum() > 0:
            continue
        slopes = np.average(planes[members, :2], axis=0, weights=weight[members])
        planes[members, :2] -= slopes
        # the level: each image's plane integrated over its fits' boxes (its value at the box centres)
        total = level = 0.0
        for image in (f["plus"], f["minus"]):
            inside = label[image] == group
            at_centre = planes[image[inside]] @ np.array([0.0, 0.0, 1.0])
            at_centre = (
                at_centre + planes[image[inside], 0] * f["boxx"][inside] + planes[image[inside], 1] * f["boxy"][inside]
            )
            total += area[inside].sum()
            level += (area[inside] * at_centre).sum()
        planes[members, 2] -= level / total
    return planes
