"""Synthetic skies with known truth: stars, nebulosity, per-tile backgrounds.

Tiles look like 2MASS Atlas images (512 x 1024 px, 1"/px, SIN or TAN,
float32). The sky is the same for every tile; each tile adds its own
background level and slope and its own noise, so background matching
visibly matters. ``truth.json`` records everything needed to render the true
sky on any grid (``render_sky``), which the tests compare mosaics against.

Units: pixel values are surface brightness per (1 arcsec)^2 pixel; a star's
``flux`` is the sum of its pixel values at 1"/px.
"""

import json
import math
import os

import numpy as np

from ..files.atomic import commit, temp_path_for, write_text

PSF_SIGMA_ARCSEC = 1.2


def default_settings():
    return {
        "columns": 6,
        "rows": 4,
        "center": "83.82 -5.39",
        "tile_width": 512,
        "tile_height": 1024,
        "pixel_scale": 1.0,
        "overlap": 0.12,
        "projection": "SIN",
        "stars": 2500,
        "nebulae": 8,
        "nebula_amplitude": [15.0, 80.0],
        "nebula_size": [150.0, 700.0],
        "noise": 2.0,
        "background_level": [20.0, 200.0],
        "background_slope": 0.02,
        "gain_scatter": 0.0,
        "seed": 42,
    }


def make_truth(settings):
    """Draw the sky (stars, nebulae) and the tile layout from the settings."""
    s = {**default_settings(), **settings}
    rng = np.random.default_rng(s["seed"])
    ra0, dec0 = (float(v) for v in str(s["center"]).replace(",", " ").split())
    scale = s["pixel_scale"]
    step_x = s["tile_width"] * scale * (1.0 - s["overlap"])  # arcsec
    step_y = s["tile_height"] * scale * (1.0 - s["overlap"])
    half_w = (step_x * (s["columns"] - 1) + s["tile_width"] * scale) / 2.0
    half_h = (step_y * (s["rows"] - 1) + s["tile_height"] * scale) / 2.0

    tiles = []
    for row in range(s["rows"]):
        for column in range(s["columns"]):
            # Tile centres on the truth tangent plane, with a little jitter.
            u = -half_w + s["tile_width"] * scale / 2.0 + column * step_x + rng.uniform(-8, 8)
            v = -half_h + s["tile_height"] * scale / 2.0 + row * step_y + rng.uniform(-8, 8)
            ra, dec = _plane_to_sky(u, v, ra0, dec0)
            level_low, level_high = s["background_level"]
            tiles.append(
                {
                    "name": f"tile_r{row:02d}_c{column:02d}",
                    "ra": ra,
                    "dec": dec,
                    "rotation": float(rng.uniform(-0.3, 0.3)),
                    "level": float(rng.uniform(level_low, level_high)),
                    "slope_x": float(rng.uniform(-1, 1) * s["background_slope"]),
                    "slope_y": float(rng.uniform(-1, 1) * s["background_slope"]),
                    "seed": int(rng.integers(0, 2**31 - 1)),
                }
            )

    n_stars = int(s["stars"])
    star_u = rng.uniform(-half_w, half_w, n_stars)
    star_v = rng.uniform(-half_h, half_h, n_stars)
    star_ra, star_dec = _plane_to_sky(star_u, star_v, ra0, dec0)
    fluxes = np.exp(rng.uniform(math.log(300.0), math.log(30000.0), n_stars))
    nebulae = []
    for _ in range(int(s["nebulae"])):
        nebulae.append(
            {
                "u": float(rng.uniform(-half_w, half_w)),
                "v": float(rng.uniform(-half_h, half_h)),
                "sigma": float(rng.uniform(*s["nebula_size"])),
                "amplitude": float(rng.uniform(*s["nebula_amplitude"])),
            }
        )
    if s.get("band"):
        _apply_band(s, tiles, fluxes, nebulae)
    if s["gain_scatter"]:
        # Scans differ in photometric zero point: each tile sees the sky times
        # its own gain, so bright structure does not cancel in overlaps.
        # A stream of its own, so the rest of the field does not change.
        gains = np.random.default_rng([s["seed"], 1]).normal(1.0, s["gain_scatter"], len(tiles))
        for tile, gain in zip(tiles, gains, strict=True):
            tile["gain"] = float(gain)
    return {
        "settings": s,
        "center": [ra0, dec0],
        "half_size_arcsec": [half_w, half_h],
        "psf_sigma_arcsec": PSF_SIGMA_ARCSEC,
        "stars": {
            "ra": np.asarray(star_ra).tolist(),
            "dec": np.asarray(star_dec).tolist(),
            "flux": fluxes.tolist(),
        },
        "nebulae": nebulae,
        "tiles": tiles,
    }


def _apply_band(settings, tiles, fluxes, nebulae):
    """Make one band of a multi-band field: same layout, stars and nebulae,
    but the band's own backgrounds, noise level, star colours and nebula
    brightness (drawn from the seed and the band name)."""
    import zlib

    rng = np.random.default_rng([settings["seed"], zlib.crc32(str(settings["band"]).encode())])
    low, high = settings["background_level"]
    for tile in tiles:
        tile["level"] = float(rng.uniform(low, high))
        tile["slope_x"] = float(rng.uniform(-1, 1) * settings["background_slope"])
        tile["slope_y"] = float(rng.uniform(-1, 1) * settings["background_slope"])
        tile["seed"] = int(rng.integers(0, 2**31 - 1))
    fluxes *= np.exp(rng.normal(0.0, 0.4, fluxes.size))
    for blob in nebulae:
        blob["amplitude"] *= float(rng.uniform(0.4, 1.6))
    settings["noise"] = float(settings["noise"] * rng.uniform(0.6, 1.6))


def _plane_to_sky(u, v, ra0, dec0):
    """Gnomonic (TAN) inverse: offsets in arcsec on the plane -> RA, Dec (deg)."""
    x = np.radians(np.asarray(u, dtype=float) / 3600.0)
    y = np.radians(np.asarray(v, dtype=float) / 3600.0)
    a0, d0 = math.radians(ra0), math.radians(dec0)
    denominator = math.cos(d0) - y * math.sin(d0)
    ra = a0 + np.arctan2(x, denominator)
    dec = np.arctan2(math.sin(d0) + y * math.cos(d0), np.hypot(x, denominator))
    return np.degrees(ra) % 360.0, np.degrees(dec)


def _sky_to_plane(ra, dec, ra0, dec0):
    a, d = np.radians(ra), np.radians(dec)
    a0, d0 = math.radians(ra0), math.radians(dec0)
    cos_c = math.sin(d0) * np.sin(d) + math.cos(d0) * np.cos(d) * np.cos(a - a0)
    x = np.cos(d) * np.sin(a - a0) / cos_c
    y = (math.cos(d0) * np.sin(d) - math.sin(d0) * np.cos(d) * np.cos(a - a0)) / cos_c
    return np.degrees(x) * 3600.0, np.degrees(y) * 3600.0


def tile_header(tile, settings):
    from astropy.io import fits

    s = settings
    code = s["projection"].upper()
    header = fits.Header()
    header["NAXIS"] = 2
    header["NAXIS1"] = s["tile_width"]
    header["NAXIS2"] = s["tile_height"]
    header["CTYPE1"] = "RA---" + code
    header["CTYPE2"] = "DEC--" + code
    header["CRVAL1"] = tile["ra"]
    header["CRVAL2"] = tile["dec"]
    header["CRPIX1"] = (s["tile_width"] + 1) / 2.0
    header["CRPIX2"] = (s["tile_height"] + 1) / 2.0
    header["CDELT1"] = -s["pixel_scale"] / 3600.0
    header["CDELT2"] = s["pixel_scale"] / 3600.0
    header["CROTA2"] = tile["rotation"]
    header["EQUINOX"] = 2000.0
    header["BUNIT"] = "DN"
    header["ORIGIN"] = "mosaicflow synthetic sky"
    return header


def render_sky(wcs, shape, truth, pixel_scale_arcsec=None):
    """The true sky (nebulae + stars, no background or noise) on a WCS grid.

    Pixel values follow Montage's convention after reprojection: surface
    brightness per input (1"/px) pixel, so on a grid of ``scale`` arcsec per
    pixel a star's pixel values sum to ``flux / scale**2``.
    """
    ny, nx = shape
    if pixel_scale_arcsec is None:
        pixel_scale_arcsec = abs(wcs.proj_plane_pixel_scales()[0].to_value("arcsec"))
    ra0, dec0 = truth["center"]
    y, x = np.mgrid[0:ny, 0:nx]
    ra, dec = wcs.all_pix2world(x.ravel(), y.ravel(), 0)
    u, v = _sky_to_plane(ra, dec, ra0, dec0)
    image = np.zeros(nx * ny)
    for blob in truth["nebulae"]:
        r2 = (u - blob["u"]) ** 2 + (v - blob["v"]) ** 2
        image += blob["amplitude"] * np.exp(-r2 / (2.0 * blob["sigma"] ** 2))
    image = image.reshape(ny, nx)

    sigma = truth["psf_sigma_arcsec"] / pixel_scale_arcsec
    area_ratio = (1.0 / pixel_scale_arcsec) ** 2
    half = int(math.ceil(6 * sigma))
    star_ra, star_dec, star_flux = _stars_near(truth["stars"], ra, dec, (half + 2) * pixel_scale_arcsec / 3600.0)
    sx, sy = wcs.all_world2pix(star_ra, star_dec, 0)
    for x0, y0, flux in zip(sx, sy, star_flux, strict=True):
        if not (-half <= x0 < nx + half and -half <= y0 < ny + half):
            continue
        ix, iy = int(round(x0)), int(round(y0))
        xs = np.arange(ix - half, ix + half + 1)
        ys = np.arange(iy - half, iy + half + 1)
        px = _integrated_gaussian(xs, x0, sigma)
        py = _integrated_gaussian(ys, y0, sigma)
        stamp = flux * area_ratio * np.outer(py, px)
        x_ok = (xs >= 0) & (xs < nx)
        y_ok = (ys >= 0) & (ys < ny)
        image[np.ix_(ys[y_ok], xs[x_ok])] += stamp[np.ix_(y_ok, x_ok)]
    return image


def _stars_near(stars, ra, dec, margin_deg):
    """The stars inside the grid's RA/Dec box widened by ``margin_deg``, in their order.

    Only a cheap cut before the exact WCS test, so a tile of a 10,000-tile field
    does not transform every star of the field; a box across RA 0/360 keeps all.
    """
    star_ra = np.asarray(stars["ra"], dtype=float)
    star_dec = np.asarray(stars["dec"], dtype=float)
    star_flux = np.asarray(stars["flux"], dtype=float)
    ra_low, ra_high = float(np.min(ra)), float(np.max(ra))
    dec_low, dec_high = float(np.min(dec)) - margin_deg, float(np.max(dec)) + margin_deg
    widest = max(abs(dec_low), abs(dec_high))
    if ra_high - ra_low > 180.0 or widest >= 89.0:
        return star_ra, star_dec, star_flux
    ra_margin = margin_deg / math.cos(math.radians(widest))
    keep = (
        (star_dec >= dec_low)
        & (star_dec <= dec_high)
        & (star_ra >= ra_low - ra_margin)
        & (star_ra <= ra_high + ra_margin)
    )
    return star_ra[keep], star_dec[keep], star_flux[keep]


def _integrated_gaussian(pixels, center, sigma):
    """Fraction of a 1-D Gaussian falling in each pixel (pixel edges at +-0.5)."""
    root2 = math.sqrt(2.0) * sigma
    upper = _erf((pixels + 0.5 - center) / root2)
    lower = _erf((pixels - 0.5 - center) / root2)
    return 0.5 * (upper - lower)


def _erf(x):
    """Vectorised erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7)."""
    x = np.asarray(x, dtype=float)
    sign = np.sign(x)
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-x * x))


def render_tile(tile, truth):
    """One tile's pixels: true sky (times the tile's gain) + its background plane + its noise."""
    from astropy.wcs import WCS

    s = truth["settings"]
    header = tile_header(tile, s)
    wcs = WCS(header)
    shape = (s["tile_height"], s["tile_width"])
    sky = render_sky(wcs, shape, truth, pixel_scale_arcsec=s["pixel_scale"])
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    background = tile["level"] + tile["slope_x"] * (x - shape[1] / 2) + tile["slope_y"] * (y - shape[0] / 2)
    noise = np.random.default_rng(tile["seed"]).normal(0.0, s["noise"], shape)
    return header, (tile.get("gain", 1.0) * sky + background + noise).astype(np.float32)


def write_field(out_dir, settings):
    """Write every tile as ``<name>.fits`` and the truth as ``truth.json``."""
    from astropy.io import fits

    truth = make_truth(settings)
    tiles_dir = os.path.join(out_dir, "tiles")
    os.makedirs(tiles_dir, exist_ok=True)
    for tile in truth["tiles"]:
        header, data = render_tile(tile, truth)
        final = os.path.join(tiles_dir, tile["name"] + ".fits")
        temp = temp_path_for(final, suffix=".fits")
        fits.PrimaryHDU(data=data, header=header).writeto(temp, overwrite=True)
        commit(temp, final)
    write_text(os.path.join(out_dir, "truth.json"), json.dumps(truth, indent=1))
    return truth


def overlap_fits(columns, rows, width=128, height=128, overlap=0.2, seed=0, noise=0.02, outliers=0):
    """A pixel-free field for the background model: a jittered grid of tiles
    with known background planes and the fits mDiffFitExec would find.

    Returns (images, fits, planes): projected-table rows (cntr, fname, naxis1,
    naxis2, crpix1, crpix2), fits-table rows (all of ``tables.FITS_COLUMNS``)
    and each image's true plane (a, b, c) in Montage's common pixel frame
    (x = i - CRPIX1, y = j - CRPIX2). Every pair of tiles whose boxes
    intersect has a fit: the difference of the two planes over the
    intersection, plus the error a plane fitted to noisy pixels has (pixel
    noise 2, so ``rms`` 2.83) and a systematic error of ``noise`` data units
    (sky that does not subtract out). ``outliers`` fits are thrown off by 5 to
    30 data units, as by an artefact in one overlap.
    """
    rng = np.random.default_rng(seed)
    step_x, step_y = width * (1 - overlap), height * (1 - overlap)
    images, planes, boxes = [], [], []
    for row in range(rows):
        for column in range(columns):
            x0 = column * step_x + rng.uniform(-0.05, 0.05) * width - columns * step_x / 2
            y0 = row * step_y + rng.uniform(-0.05, 0.05) * height - rows * step_y / 2
            x0, y0 = round(x0), round(y0)
            cntr = len(images)
            images.append(
                {"cntr": cntr, "fname": f"t{cntr:06d}.fits", "naxis1": width, "naxis2": height}
                | {"crpix1": -x0, "crpix2": -y0}
            )
            slope_x, slope_y = rng.uniform(-0.02, 0.02, 2)
            level = rng.uniform(20.0, 200.0)
            centre_x, centre_y = x0 + (width - 1) / 2, y0 + (height - 1) / 2
            planes.append((slope_x, slope_y, level - slope_x * centre_x - slope_y * centre_y))
            boxes.append((x0, x0 + width - 1, y0, y0 + height - 1))
    fits = []
    pixel_noise = 2.0
    for plus in range(len(images)):
        for minus in _box_neighbours(plus, columns, rows):
            (px0, px1, py0, py1), (mx0, mx1, my0, my1) = boxes[plus], boxes[minus]
            x0, x1, y0, y1 = max(px0, mx0), min(px1, mx1), max(py0, my0), min(py1, my1)
            if x1 < x0 or y1 < y0:
                continue
            w, h = x1 - x0 + 1, y1 - y0 + 1
            npixel = w * h
            rms = pixel_noise * math.sqrt(2)
            # plane-fit errors for npixel noisy pixels (level at the centre, slopes over the box) plus the systematic
            level_error = math.hypot(rms / math.sqrt(npixel), noise)
            slope_errors = [math.hypot(rms * math.sqrt(12 / npixel) / n, noise / n) for n in (w, h)]
            a, b, c = (p - m for p, m in zip(planes[plus], planes[minus], strict=True))
            a += rng.normal(0, slope_errors[0])
            b += rng.normal(0, slope_errors[1])
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            c += rng.normal(0, level_error) - (a - (planes[plus][0] - planes[minus][0])) * cx
            c -= (b - (planes[plus][1] - planes[minus][1])) * cy
            fits.append(
                {"plus": plus, "minus": minus, "a": a, "b": b, "c": c, "crpix1": -x0, "crpix2": -y0}
                | {"xmin": x0, "xmax": x1, "ymin": y0, "ymax": y1, "xcenter": cx, "ycenter": cy}
                | {"npixel": npixel, "rms": rms, "boxx": cx, "boxy": cy, "boxwidth": w, "boxheight": h, "boxang": 0.0}
            )
    for k in rng.choice(len(fits), size=min(outliers, len(fits)), replace=False):
        fits[k]["c"] += rng.choice([-1, 1]) * rng.uniform(5.0, 30.0)
        fits[k]["rms"] *= 1.2
    return images, fits, planes


def write_overlap_fits(folder, images, fits):
    """``overlap_fits``' field as Montage's tables in ``folder``: the projected
    images' table and the fits table; returns their paths."""
    from ..files import tables

    projected, fits_tbl = os.path.join(folder, "projected.tbl"), os.path.join(folder, "fits.tbl")
    tables.write_ipac(projected, ["cntr", "fname", "naxis1", "naxis2", "crpix1", "crpix2"], images)
    rows = [tables.format_fit_row(int(f["plus"]), int(f["minus"]), f) for f in fits]
    write_text(fits_tbl, tables.FITS_HEADER + "".join(rows))
    return projected, fits_tbl


def _box_neighbours(index, columns, rows):
    """Later tiles of the grid that may overlap tile ``index`` (right, and the row above)."""
    row, column = divmod(index, columns)
    later = [(row, column + 1)] + [(row + 1, column + d) for d in (-1, 0, 1)]
    return [r * columns + c for r, c in later if 0 <= r < rows and 0 <= c < columns]
