"""Checks of a HiPS against the mosaic it was made from (tests/test_hips.py)."""

import numpy as np
from astropy.coordinates import ICRS, SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from mosaicflow.hips import geometry, orders, pyramid


def read_tiles(folder, order):
    return {index: fits.getdata(path) for index, path in pyramid.tiles_in([folder], order).items()}


def read_back(hips, order, lon, lat):
    """The HiPS's values at ICRS points (degrees), from its FITS tiles of ``order``."""
    tiles = read_tiles(hips, order)
    tile, row, column = geometry.tile_position(order, lon, lat)
    values = np.full(len(lon), np.nan)
    for index in np.unique(tile):
        mine = tile == index
        if int(index) in tiles:
            values[mine] = tiles[int(index)][row[mine], column[mine]]
    return values


def check_read_back(hips, mosaic_path):
    """Check the HiPS's deepest tiles against ``mosaic_path`` at the mosaic's pixel centres
    (all but the outermost); returns (pixels, |HiPS - mosaic| per pixel, exact-bilinear
    error as a share of the mosaic's largest value)."""
    with fits.open(mosaic_path) as hdus:
        data, header = hdus[0].data.astype(np.float64), hdus[0].header
    wcs = WCS(header)
    order = orders.deepest_order(float(np.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix)))))
    ny, nx = data.shape
    y, x = np.mgrid[1 : ny - 1, 1 : nx - 1]
    x, y = x.ravel(), y.ravel()
    keep = np.isfinite(data[y, x])
    x, y = x[keep], y[keep]
    # astropy's own frame transformation, not the workflow's rotation
    centres = wcs.pixel_to_world(x, y).icrs
    values = read_back(hips, order, centres.ra.deg, centres.dec.deg)
    # A HiPS pixel's centre lies within one mosaic pixel of theirs: where the mosaic pixel's
    # 3 x 3 neighbourhood is all data, so are the four pixels its interpolation reads.
    neighbourhood = np.stack([data[y + dy, x + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    inside = np.isfinite(neighbourhood).all(axis=0)
    assert inside.mean() > 0.98 and np.isfinite(values[inside]).all()

    # 1. Exactly the bilinear interpolation at the HiPS pixel's centre (astropy-healpix's
    # centre, astropy's transformation, the interpolation written out here), within the
    # float32 rounding of the tiles: 1e-6 of the values' size.
    tile, row, column = geometry.tile_position(order, centres.ra.deg, centres.dec.deg)
    sub = tile.astype(np.int64) * 4**orders.TILE_DEPTH + interleave(511 - row, column)
    healpix = geometry.healpix_of(order + orders.TILE_DEPTH)
    lon, lat = healpix.healpix_to_lonlat(sub)
    px, py = wcs.world_to_pixel(SkyCoord(lon, lat, frame=ICRS()))
    x0, y0 = np.floor(px).astype(int), np.floor(py).astype(int)
    fx, fy = px - x0, py - y0
    expected = (
        data[y0, x0] * (1 - fx) * (1 - fy)
        + data[y0, x0 + 1] * fx * (1 - fy)
        + data[y0 + 1, x0] * (1 - fx) * fy
        + data[y0 + 1, x0 + 1] * fx * fy
    )
    both = np.isfinite(values) & np.isfinite(expected)
    scale = np.nanmax(np.abs(data))
    exact_error = np.abs(values[both] - expected[both]).max() / scale
    assert exact_error < 1e-6, exact_error

    # 2. At the mosaic's pixel centres: a HiPS pixel is smaller than the mosaic's and its
    # centre within one mosaic pixel of theirs, so its value lies between the lowest and
    # highest of the mosaic pixel's 3 x 3 neighbourhood (float32 rounding allowed).
    low, high = np.nanmin(neighbourhood, axis=0), np.nanmax(neighbourhood, axis=0)
    slack = 1e-6 * scale
    fine = np.isfinite(values)
    assert ((values[fine] >= low[fine] - slack) & (values[fine] <= high[fine] + slack)).all()
    return order, np.abs(values[fine] - data[y, x][fine]), exact_error


def interleave(row_bits, column_bits):
    """The nested sub-index of a tile pixel: dx's bits (``row_bits``) even, dy's odd."""
    out = np.zeros(np.shape(row_bits), dtype=np.int64)
    for bit in range(orders.TILE_DEPTH):
        out |= ((np.asarray(row_bits) >> bit) & 1) << (2 * bit)
        out |= ((np.asarray(column_bits) >> bit) & 1) << (2 * bit + 1)
    return out
