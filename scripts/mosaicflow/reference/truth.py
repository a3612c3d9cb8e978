"""Compare a mosaic of a synthetic field with the field's truth.

Used by the tests and the benchmarks to check science, not just that a file
was written. Metrics:

- ``coverage``: fraction of the mosaic's pixels with data.
- ``position_error_px``: median distance between measured star centroids and
  the true positions mapped through the mosaic's WCS (pixels).
- ``flux_ratio``: median of measured / true flux for isolated bright stars
  (aperture photometry, local background from an annulus).
- ``seam_amplitude``: tile-scale steps left in the background. The true sky
  is subtracted, a global plane is removed (background matching fixes
  relative levels only), the residual is reduced to medians of 32 x 32 pixel
  blocks, and the metric is the spread (99th minus 1st percentile) of those
  block medians, in data units. Tile-to-tile offsets show up directly here;
  pixel noise averages down by the block size.
"""

import json
import math
import warnings

import numpy as np

from ..sky.synth import render_sky

BLOCK = 32


def load_mosaic(path):
    from astropy.io import fits
    from astropy.wcs import WCS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(path) as hdul:
            data = hdul[0].data.astype(float)
            wcs = WCS(hdul[0].header)
    return data, wcs


def compare(mosaic_path, truth_path):
    data, wcs = load_mosaic(mosaic_path)
    with open(truth_path, encoding="utf-8") as handle:
        truth = json.load(handle)
    scale = abs(wcs.proj_plane_pixel_scales()[0].to_value("arcsec"))
    result = {"coverage": float(np.isfinite(data).mean())}
    result.update(measure_stars(data, wcs, truth, scale))
    result["seam_amplitude"] = seam_amplitude(data, wcs, truth, scale)
    return result


def measure_stars(data, wcs, truth, scale, aperture=5.0, min_flux=3000.0, isolation_arcsec=15.0):
    stars = truth["stars"]
    ra, dec, flux = (np.asarray(stars[k]) for k in ("ra", "dec", "flux"))
    x, y = wcs.all_world2pix(ra, dec, 0)
    ny, nx = data.shape
    margin = 12
    inside = (x > margin) & (x < nx - margin - 1) & (y > margin) & (y < ny - margin - 1)
    # Isolated: no other star within isolation_arcsec.
    isolated = np.ones(len(ra), bool)
    px = x * scale
    py = y * scale
    for i in np.flatnonzero(inside & (flux >= min_flux)):
        d2 = (px - px[i]) ** 2 + (py - py[i]) ** 2
        d2[i] = np.inf
        isolated[i] = d2.min() > isolation_arcsec**2
    chosen = np.flatnonzero(inside & (flux >= min_flux) & isolated)
    errors, ratios = [], []
    yy, xx = np.mgrid[-margin : margin + 1, -margin : margin + 1]
    window = 1.25 * truth["psf_sigma_arcsec"] / scale
    for i in chosen:
        ix, iy = int(round(x[i])), int(round(y[i]))
        cut = data[iy - margin : iy + margin + 1, ix - margin : ix + margin + 1]
        if not np.all(np.isfinite(cut)):
            continue
        r = np.hypot(xx + ix - x[i], yy + iy - y[i])
        signal = cut - np.median(cut[(r > 7) & (r < 11)])
        ratios.append(signal[r <= aperture].sum() * scale**2 / flux[i])
        cx, cy = _windowed_centroid(signal, xx + ix, yy + iy, x[i], y[i], window)
        errors.append(np.hypot(cx - x[i], cy - y[i]))
    if not errors:
        return {"stars_measured": 0, "position_error_px": float("nan"), "flux_ratio": float("nan")}
    return {
        "stars_measured": len(errors),
        "position_error_px": float(np.median(errors)),
        "flux_ratio": float(np.median(ratios)),
    }


def _windowed_centroid(signal, xs, ys, cx, cy, window, iterations=10):
    """Gaussian-windowed centroid (like SExtractor's XWIN), iterated from (cx, cy).

    Plain first moments of a clipped cutout are biased by noise and
    neighbouring light; the window makes the estimate unbiased for a
    symmetric PSF.
    """
    for _ in range(iterations):
        weights = signal * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * window**2))
        near = np.hypot(xs - cx, ys - cy) <= 3 * window
        total = weights[near].sum()
        cx = (weights[near] * xs[near]).sum() / total
        cy = (weights[near] * ys[near]).sum() / total
    return cx, cy


def seam_amplitude(data, wcs, truth, scale):
    sky = render_sky(wcs, data.shape, truth, pixel_scale_arcsec=scale)
    residual = data - sky
    ny, nx = data.shape
    by, bx = ny // BLOCK, nx // BLOCK
    blocks = residual[: by * BLOCK, : bx * BLOCK].reshape(by, BLOCK, bx, BLOCK)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        good = np.isfinite(blocks).mean(axis=(1, 3)) > 0.9
        medians = np.nanmedian(blocks, axis=(1, 3))
    gy, gx = np.mgrid[0:by, 0:bx]
    design = np.column_stack([np.ones(good.sum()), gx[good], gy[good]])
    coefficients, *_ = np.linalg.lstsq(design, medians[good], rcond=None)
    flat = medians[good] - design @ coefficients
    low, high = np.percentile(flat, [1, 99])
    return float(high - low)


def plane_samples(images, planes, points=5):
    """{cntr: (x, y, value)}: each image's plane (a, b, c) sampled on a
    ``points`` x ``points`` grid over the image, in Montage's common frame."""
    samples = {}
    for row, (a, b, c) in zip(images, planes, strict=True):
        x0, y0 = -float(row["crpix1"]), -float(row["crpix2"])
        x, y = np.meshgrid(
            np.linspace(x0, x0 + int(row["naxis1"]) - 1, points), np.linspace(y0, y0 + int(row["naxis2"]) - 1, points)
        )
        samples[int(row["cntr"])] = (x.ravel(), y.ravel(), a * x.ravel() + b * y.ravel() + c)
    return samples


def background_error(samples, corrections, groups):
    """RMS of true background minus correction over the sampled points of
    every image in a group of two or more, after removing the one plane per
    group that fits best (matching fixes backgrounds only up to that plane).

    ``samples``: {cntr: (x, y, true background)} in Montage's common frame;
    ``corrections``: {cntr: (a, b, c)}; ``groups``: {cntr: group label}.
    """
    members = {}
    for cntr, label in groups.items():
        members.setdefault(label, []).append(cntr)
    squares, count = 0.0, 0
    for cntrs in members.values():
        if len(cntrs) < 2:
            continue
        x = np.concatenate([samples[c][0] for c in cntrs])
        y = np.concatenate([samples[c][1] for c in cntrs])
        left = np.concatenate(
            [
                samples[c][2]
                - (corrections[c][0] * samples[c][0] + corrections[c][1] * samples[c][1] + corrections[c][2])
                for c in cntrs
            ]
        )
        design = np.column_stack([x, y, np.ones_like(x)])
        coefficients, *_ = np.linalg.lstsq(design, left, rcond=None)
        squares += float(((left - design @ coefficients) ** 2).sum())
        count += len(left)
    return math.sqrt(squares / count) if count else float("nan")


def overlap_steps(mosaic_dir, truth):
    """{"PLUS+MINUS": true step} for the overlaps of a synthetic field's mosaic folder:
    what is left between the two corrected images over their overlap, from the
    tiles' true background planes and the corrections the model applied (mean
    over the overlap's common box, in data units). The sky cancels exactly; the
    noise is not there, so this is the step the quality report's ``offset_after``
    estimates from the pixels."""
    import os

    from astropy.wcs import WCS

    from ..files import layout, tables
    from ..sky import synth
    from ..sky.region import read_header_template

    region = WCS(read_header_template(layout.in_folder(mosaic_dir, "region")))
    tiles = {tile["name"]: tile for tile in truth["tiles"]}
    settings = truth["settings"]
    ids = {row["id"]: row for row in tables.read_tsv(layout.in_folder(mosaic_dir, "images"))}
    corrections = {
        row["id"]: tuple(float(row[k]) for k in "abc")
        for row in tables.read_tsv(layout.in_folder(mosaic_dir, "corrections"))
    }
    placed = {}
    for row in tables.read_ipac(layout.in_folder(mosaic_dir, "projected_table")):
        ident = layout.image_id_of(row["fname"])
        placed[ident] = (float(row["crpix1"]), float(row["crpix2"]), int(row["naxis1"]), int(row["naxis2"]))
    region_crpix = region.wcs.crpix

    def residual(ident, x, y):
        """True background minus correction of image ``ident`` at 0-based mosaic pixels (x, y)."""
        crpix1, crpix2, _, _ = placed[ident]
        # image pixel (i, j) is mosaic pixel (i + dx, j + dy), dx = CRPIX1(region) - CRPIX1(image)
        i, j = x - (region_crpix[0] - crpix1), y - (region_crpix[1] - crpix2)
        a, b, c = corrections[ident]
        name = os.path.basename(ids[ident]["path"]).removesuffix(".fits")
        tile = tiles[name]
        raw = WCS(synth.tile_header(tile, settings))
        ra, dec = region.all_pix2world(x, y, 0)
        u, v = raw.all_world2pix(ra, dec, 0)
        plane = tile["level"] + tile["slope_x"] * (u - settings["tile_width"] / 2)
        plane = plane + tile["slope_y"] * (v - settings["tile_height"] / 2)
        return plane - (a * (i - crpix1) + b * (j - crpix2) + c)

    steps = {}
    for plus, minus in _overlap_pairs(mosaic_dir):
        (p1, p2, pn1, pn2), (m1, m2, mn1, mn2) = placed[plus], placed[minus]
        x0 = max(region_crpix[0] - p1, region_crpix[0] - m1)
        x1 = min(region_crpix[0] - p1 + pn1, region_crpix[0] - m1 + mn1) - 1
        y0 = max(region_crpix[1] - p2, region_crpix[1] - m2)
        y1 = min(region_crpix[1] - p2 + pn2, region_crpix[1] - m2 + mn2) - 1
        if x1 < x0 or y1 < y0:
            continue
        x, y = np.meshgrid(np.linspace(x0, x1, 9), np.linspace(y0, y1, 9))
        steps[f"{plus}+{minus}"] = float(np.mean(residual(plus, x, y) - residual(minus, x, y)))
    return steps


def _overlap_pairs(mosaic_dir):
    from ..files import layout
    from ..montage import per_mosaic

    return per_mosaic.overlap_pairs(layout.in_folder(mosaic_dir, "overlaps"))
