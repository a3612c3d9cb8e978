"""Which difference fits the background model may use, and how.

A difference fit is a plane ``a*x + b*y + c`` fitted by mFitplane to the
difference of two overlapping projected images, over a box (centre boxx, boxy;
boxwidth x boxheight). Where the region's edge cuts an overlap into a sliver a
few pixels wide, the plane's slopes are free across the sliver: they come out
at tens of data units per pixel and ``c`` (the plane at the region's reference
pixel, far away) at 1e4-1e5, while the plane's value at the box centre, the
mean difference, is still sound. mBgModel turned such fits into NaN
corrections for nearly every image of a real 2-degree 2MASS field (Montage's
own drivers do the same). Dropping them is no cure either: a sliver is often
an image's only link to its neighbours, and without it that image keeps its
own level beside matched ones (a seam). So, per fit:

- too few pixels (``min_pixels``): rejected, it fixes nothing;
- too thin (the box's shorter side below ``min_width`` pixels): a sliver. Its
  slope across is dropped, its slope along the box kept, and its level is the
  median of the difference image's pixels (the fits table's ``median`` column;
  without it the plane at the box centre): a plane over a few pixels' width
  is thrown off by the columns at the images' edges, its value at the box
  centre with it (by 55 data units on a synthetic sliver whose median was
  right), while the slope along an 800-pixel sliver is sound and needed (the
  images' own gradients). A box thin both ways keeps its level only;
- an outlier among the field's fits: rejected. The level of every kept fit
  (a plane's at its box centre, a sliver's median), and the slope and rms of
  the full planes, are compared
  with the field's median in robust standard deviations (1.4826 x the median
  absolute deviation); beyond ``outlier_sigma`` is an outlier. Each deviation
  is measured against a floor that keeps clean fields whole: a level within
  the median rms, a slope that moves the plane by less than the median rms
  across the median box, and an rms within the median rms are never outliers.
  Nothing is an outlier on a field of fewer than ``MIN_FITS_FOR_OUTLIERS``
  fits (too few to say what is typical).

Every fit not used as fitted is listed with what was done and why.
"""

import math
from dataclasses import dataclass

import numpy as np

from ..files import atomic, tables

MIN_FITS_FOR_OUTLIERS = 5
SLIVER, REJECTED = "sliver", "rejected"
SCREENED_COLUMNS = ["plus", "minus", "action", "reason", "npixel", "boxwidth", "boxheight", "level", "slope", "rms"]


@dataclass(frozen=True)
class Rule:
    """The screening thresholds (config ``background.fit_screen``, whose schema holds the defaults)."""

    min_width: float  # pixels: a box whose shorter side is below it is a sliver (see the module)
    min_pixels: int  # difference pixels below which the fit is not used
    outlier_sigma: float  # robust standard deviations; 0 turns the outlier test off


def measures(row):
    """What one fit says about its overlap.

    Parameters
    ----------
    row : dict
        A fits-table row: a, b (data units per pixel), c (data units), boxx, boxy
        (pixels, Montage's frame); values may be strings.

    Returns
    -------
    level : float
        The plane at the box centre, data units.
    slope : float
        hypot(a, b), data units per pixel.
    rms : float
        The fit's rms, data units.
    """
    a, b, c = float(row["a"]), float(row["b"]), float(row["c"])
    level = a * float(row["boxx"]) + b * float(row["boxy"]) + c
    return level, math.hypot(a, b), float(row["rms"])


def robust_level(row):
    """The difference's median where the table has it, else the plane at the box centre.

    Parameters
    ----------
    row : dict
        A fits-table row (``median`` optional).

    Returns
    -------
    float
        Data units.
    """
    median = float(row.get("median") or "nan")
    return median if math.isfinite(median) else measures(row)[0]


def screen(rows, rule):
    """Screen fits-table rows (values may be strings).

    Parameters
    ----------
    rows : list of dict
        Fits-table rows (box sizes in pixels; levels and rms in data units).
    rule : Rule
        The thresholds.

    Returns
    -------
    used : list of dict
        The rows the model gets (a sliver's as a copy with the plane of ``sliver_plane``).
    screened : list of tuple
        (row as fitted, action, reason) for every fit not used as fitted.
    """
    actions = [_geometry(row, rule) for row in rows]
    candidates = [i for i, action in enumerate(actions) if action is None or action[0] == SLIVER]
    if rule.outlier_sigma > 0 and len(candidates) >= MIN_FITS_FOR_OUTLIERS:
        full = [actions[i] is None for i in candidates]
        levels = [measures(rows[i])[0] if actions[i] is None else robust_level(rows[i]) for i in candidates]
        found = _outliers([rows[i] for i in candidates], levels, full, rule.outlier_sigma)
        for i, reason in zip(candidates, found, strict=True):
            if reason is not None:
                actions[i] = (REJECTED, reason)
    used, screened = [], []
    for row, action in zip(rows, actions, strict=True):
        if action is None:
            used.append(row)
            continue
        screened.append((row, *action))
        if action[0] == SLIVER:
            used.append(row | sliver_plane(row, rule.min_width))
    return used, screened


def sliver_plane(row, min_width):
    """{a, b, c} of a sliver's fit: the slope along its box only (none if the box
    is thin both ways), and at the box centre the difference's median.

    Parameters
    ----------
    row : dict
        A fits-table row: a, b, c, boxx, boxy, boxwidth, boxheight (pixels), boxang (degrees).
    min_width : float
        Pixels: a box whose longer side is shorter than this keeps no slope.

    Returns
    -------
    dict
        a, b (data units per pixel), c (data units), in Montage's frame.
    """
    angle = math.radians(float(row["boxang"]))
    width, height = float(row["boxwidth"]), float(row["boxheight"])
    # the box's X axis (its width) points along (cos, sin), its Y axis along (-sin, cos)
    axis = (math.cos(angle), math.sin(angle)) if width >= height else (-math.sin(angle), math.cos(angle))
    along = float(row["a"]) * axis[0] + float(row["b"]) * axis[1] if max(width, height) >= min_width else 0.0
    a, b = along * axis[0], along * axis[1]
    return {"a": a, "b": b, "c": robust_level(row) - a * float(row["boxx"]) - b * float(row["boxy"])}


def _geometry(row, rule):
    """None for a fit usable as fitted, else (action, reason)."""
    width, height = float(row["boxwidth"]), float(row["boxheight"])
    npixel, rms = float(row["npixel"]), float(row["rms"])
    if not all(math.isfinite(float(row[name])) for name in ("a", "b", "c")) or not math.isfinite(rms):
        return REJECTED, "not finite"
    if npixel < rule.min_pixels:
        return REJECTED, f"too few pixels: {npixel:.0f} (fit_screen.min_pixels {rule.min_pixels})"
    if min(width, height) < rule.min_width:
        return SLIVER, (
            f"a sliver: {width:.0f} x {height:.0f} px box (fit_screen.min_width {rule.min_width:g}); its slope"
            " across dropped, its level the difference's median"
        )
    return None


def _outliers(rows, levels, full, sigma):
    """A reason (or None) per row; slope and rms are tested on full planes (``full``) only."""
    _, slope, rms = np.array([measures(row) for row in rows]).T
    level = np.array(levels)
    full = np.array(full)
    box = np.array([math.hypot(float(row["boxwidth"]), float(row["boxheight"])) for row in rows])
    noise = float(np.median(rms[full])) if full.any() else float(np.median(rms))
    tests = [("level", level, np.ones(len(rows), bool), noise, "data units")]
    if full.sum() >= MIN_FITS_FOR_OUTLIERS:
        typical_box = float(np.median(box[full]))
        tests += [
            ("slope", slope, full, noise / typical_box, "per pixel"),
            ("rms", rms, full, noise, "data units"),
        ]
    reasons = [None] * len(rows)
    for name, values, tested, floor, unit in tests:
        centre = float(np.median(values[tested]))
        spread = max(1.4826 * float(np.median(np.abs(values[tested] - centre))), floor)
        z = np.abs(values - centre) / spread
        # a slope or rms is suspect when large, a level either way
        suspect = tested & (z > sigma) & ((values > centre) if name != "level" else True)
        for i in np.flatnonzero(suspect):
            if reasons[i] is None:
                reasons[i] = (
                    f"{name} outlier: {values[i]:.4g} {unit} against the field's median {centre:.4g}"
                    f" ({z[i]:.0f} robust sigmas; fit_screen.outlier_sigma {sigma:g})"
                )
    return reasons


def screen_table(fits_tbl, used_tbl, screened_tsv, ids, rule):
    """Screen Montage's fits table ``fits_tbl``: the fits to use to ``used_tbl``
    (the same format), the others with what was done and why to
    ``screened_tsv``.

    Parameters
    ----------
    fits_tbl, used_tbl, screened_tsv : str
        The table read and the two written.
    ids : dict
        {cntr: image id}, for ``screened_tsv``.
    rule : Rule
        The thresholds.

    Returns
    -------
    used : list of dict
        The rows written to ``used_tbl``.
    slivers, rejected : int
        How many fits were used as slivers and how many not at all.
    """
    used, screened = screen(tables.read_ipac(fits_tbl), rule)
    with_median = all("median" in row for row in used)
    lines = [tables.FITS_HEADER_WITH_MEDIAN if with_median else tables.FITS_HEADER]
    for row in used:
        fit = {name: float(row[name]) for name in tables.FIT_FIELDS}
        for name in ("xmin", "xmax", "ymin", "ymax"):
            fit[name] = int(fit[name])
        if with_median:
            fit["median"] = float(row["median"])
        lines.append(tables.format_fit_row(int(row["plus"]), int(row["minus"]), fit))
    atomic.write_text(used_tbl, "".join(lines))
    listed = []
    for row, action, reason in screened:
        level = robust_level(row) if action == SLIVER else measures(row)[0]
        listed.append(
            {
                "plus": ids.get(int(row["plus"]), row["plus"]),
                "minus": ids.get(int(row["minus"]), row["minus"]),
                "action": action,
                "reason": reason,
                "npixel": row["npixel"],
                "boxwidth": row["boxwidth"],
                "boxheight": row["boxheight"],
                "level": f"{level:.6g}",
                "slope": f"{measures(row)[1]:.6g}",
                "rms": row["rms"],
            }
        )
    tables.write_tsv(screened_tsv, SCREENED_COLUMNS, listed)
    slivers = sum(action == SLIVER for _, action, _ in screened)
    return used, slivers, len(screened) - slivers


def check_corrections(planes, fits_rows, ids):
    """Raise ValueError naming the images whose correction planes are not
    finite or beyond what the fits allow.

    Parameters
    ----------
    planes : dict
        {cntr: (a, b, c)} (mBgModel's table): a, b in data units per pixel, c in data units.
    fits_rows : list of dict
        The fits the model used.
    ids : dict
        {cntr: image id}, for the message.

    The bound: a correction is a sum of fitted differences along a chain of
    overlaps, at most one per image. So its slope is at most the number of
    images times a typical fit's slope (plus the slope a typical level makes
    across the farthest box), and its value at the reference pixel at most
    the number of images times a typical level plus that slope across the
    farthest box. Typical is the median plus ten robust standard deviations,
    so that the bound holds whatever a few wild fits say.
    """
    bad = [cntr for cntr, plane in planes.items() if not all(math.isfinite(v) for v in plane)]
    if bad:
        raise ValueError(
            f"the background model gave non-finite corrections for {len(bad)} of {len(planes)} images"
            f" ({_names(bad, ids)})"
        )
    if not fits_rows:
        return
    measured = np.abs(np.array([measures(row)[:2] for row in fits_rows]))
    level, slope = (_typical(measured[:, k]) for k in (0, 1))
    reach = max(
        math.hypot(float(row["boxx"]), float(row["boxy"])) + math.hypot(float(row["boxwidth"]), float(row["boxheight"]))
        for row in fits_rows
    )
    slope_limit = len(planes) * (slope + level / reach)
    level_limit = len(planes) * level + slope_limit * reach
    wild = [cntr for cntr, (a, b, c) in planes.items() if math.hypot(a, b) > slope_limit or abs(c) > level_limit]
    if wild:
        raise ValueError(
            f"the background model gave corrections beyond what the fits allow for {len(wild)} of"
            f" {len(planes)} images ({_names(wild, ids)})"
        )


def _typical(values):
    centre = float(np.median(values))
    return centre + 10 * 1.4826 * float(np.median(np.abs(values - centre)))


def _names(cntrs, ids):
    names = ", ".join(str(ids.get(c, c)) for c in cntrs[:5])
    return names + (", ..." if len(cntrs) > 5 else "")
