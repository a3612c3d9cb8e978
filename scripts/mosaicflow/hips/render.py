"""The deepest order's tiles: the mosaic interpolated (bilinear) at each tile
pixel's centre, written as a FITS tile (the values) and a PNG tile (for
eyes, with the HiPS's one stretch and transparent where there is no data).
"""

import logging
import os

import numpy as np
from astropy.io import fits
from PIL import Image
from scipy.ndimage import map_coordinates

from ..files import atomic
from . import geometry

log = logging.getLogger("mosaicflow")

# What the PNG tiles' grey levels stretch, as percentiles of the mosaic's finite pixels.
CUT_PERCENTILES = (1.0, 50.0, 99.9)
CUT_SAMPLES = 2_000_000


def cut(data):
    """The PNG stretch, from a regular sample of ``data``.

    Parameters
    ----------
    data : numpy.ndarray
        The mosaic's pixels (2-D, a memory map is fine), data units.

    Returns
    -------
    list of float
        [low, middle, high]: the 1st, 50th and 99.9th percentiles of the finite
        pixels, data units ([0, 0.5, 1] if none is finite).
    """
    step = max(1, int(np.sqrt(data.size / CUT_SAMPLES)))
    sample = np.asarray(data[::step, ::step], dtype=np.float64)
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        return [0.0, 0.5, 1.0]
    low, middle, high = (float(v) for v in np.percentile(finite, CUT_PERCENTILES))
    return [low, max(middle, low), max(high, middle, low + 1e-12)]


def grey(values, stretch):
    """8-bit grey levels and alpha of ``values``: an asinh stretch from ``stretch``'s low
    to its high value, softened at the middle (the sky), so faint nebulae and bright
    stars both show; NaN is transparent.

    Parameters
    ----------
    values : numpy.ndarray
        Data units.
    stretch : sequence of float
        (low, middle, high), data units (``cut``).

    Returns
    -------
    level, alpha : numpy.ndarray of uint8
        0-255 each, the shape of ``values``.
    """
    low, middle, high = stretch
    soft = max(middle - low, (high - low) * 1e-3)
    with np.errstate(invalid="ignore"):
        scaled = np.arcsinh(np.clip(values - low, 0.0, None) / soft) / np.arcsinh((high - low) / soft)
    finite = np.isfinite(values)
    level = np.where(finite, np.clip(scaled, 0.0, 1.0) * 255.0 + 0.5, 0.0).astype(np.uint8)
    return level, np.where(finite, 255, 0).astype(np.uint8)


def bilinear(data, x, y):
    """``data`` interpolated bilinearly at zero-based pixel coordinates (x, y); NaN
    outside the mosaic's pixels and next to NaN pixels. Within half a pixel of the
    edge the edge pixels' values hold, so the tiles cover the mosaic's whole footprint.

    Parameters
    ----------
    data : numpy.ndarray
        The mosaic's pixels [y, x], data units (a memory map: only the part needed is read).
    x, y : numpy.ndarray
        Zero-based pixel coordinates, pixels.

    Returns
    -------
    numpy.ndarray
        Data units, the shape of ``x``.
    """
    ny, nx = data.shape
    out = np.full(x.shape, np.nan, dtype=np.float64)
    inside = (x >= -0.5) & (x <= nx - 0.5) & (y >= -0.5) & (y <= ny - 0.5)
    if not inside.any():
        return out
    xi, yi = np.clip(x[inside], 0, nx - 1), np.clip(y[inside], 0, ny - 1)
    # only the part of the mosaic the tile covers is read (a memory map elsewhere)
    x0, x1 = int(np.floor(xi.min())), min(nx - 1, int(np.floor(xi.max())) + 1)
    y0, y1 = int(np.floor(yi.min())), min(ny - 1, int(np.floor(yi.max())) + 1)
    part = np.asarray(data[y0 : y1 + 1, x0 : x1 + 1], dtype=np.float64)
    out[inside] = map_coordinates(part, [yi - y0, xi - x0], order=1, mode="nearest", prefilter=False)
    return out


def write_tile(folder, order, index, values, stretch):
    """Tile ``index``'s FITS and PNG files under ``folder`` (Norder/Dir/Npix)."""
    fits_path = os.path.join(folder, geometry.tile_file(order, index, "fits"))
    os.makedirs(os.path.dirname(fits_path), exist_ok=True)
    header = fits.Header([("ORDER", order, "HEALPix order of the tile"), ("NPIX", index, "nested index")])
    stored = values.astype(np.float32)
    fits.PrimaryHDU(stored, header=header).writeto(fits_path)
    # from the stored values, so the PNG shows exactly the FITS tile
    level, alpha = grey(stored.astype(np.float64), stretch)
    # FITS rows go up, PNG rows down
    image = Image.fromarray(np.dstack([level, level, level, alpha])[::-1], mode="RGBA")
    image.save(fits_path[: -len("fits")] + "png", compress_level=1)


def render_batch(mosaic_path, plan, batch, out_folder):
    """Write the tiles of ``plan``'s batch ``batch`` that hold any of the mosaic's data
    into ``out_folder`` (made under a temporary name, then renamed); returns how many."""
    order, stretch = plan["order"], plan["cut"]
    with atomic.folder_output(out_folder) as temporary:
        written = 0
        with fits.open(mosaic_path, memmap=True) as hdus:
            sky = geometry.MosaicSky(hdus[0].header)
            data = hdus[0].data
            for index in plan["batches"][batch]:
                lon, lat = geometry.tile_lonlat(order, index)
                x, y = sky.pixels_of(lon, lat)
                values = bilinear(data, x, y)
                if not np.isfinite(values).any():
                    continue
                write_tile(temporary, order, index, values, stretch)
                written += 1
    log.info("batch %d: %d of %d tiles of order %d hold data", batch, written, len(plan["batches"][batch]), order)
    return written
