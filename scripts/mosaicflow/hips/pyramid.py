"""A lower order of the HiPS from the order below it, as hipsgen builds it:
each tile is its four children, each averaged over 2 x 2 pixels (NaN left out)."""

import glob
import logging
import os
import warnings

import numpy as np
from astropy.io import fits

from ..files import atomic
from . import orders, render
from .orders import TILE_WIDTH

log = logging.getLogger("mosaicflow")


def tiles_in(folders, order, extension="fits"):
    """{nested index: tile path} of the order-``order`` tiles (FITS, or ``extension``) under ``folders``."""
    found = {}
    for folder in folders:
        for path in glob.glob(os.path.join(folder, f"Norder{order}", "Dir*", f"Npix*.{extension}")):
            found[int(os.path.basename(path)[len("Npix") : -len(extension) - 1])] = path
    return found


def halve(values):
    """The mean of each 2 x 2 block of finite pixels (NaN where a block has none).

    Parameters
    ----------
    values : numpy.ndarray
        A tile's pixels (even sides), data units.

    Returns
    -------
    numpy.ndarray
        Half the size each way, data units.
    """
    blocks = values.reshape(values.shape[0] // 2, 2, values.shape[1] // 2, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # blocks without data: NaN
        return np.nanmean(blocks, axis=(1, 3))


def child_place(child, width=TILE_WIDTH):
    """Where child ``child`` (0-3, its nested index's last two bits) goes in its
    parent's array: its dx bit picks the rows (dx grows downwards), its dy bit the columns."""
    half = width // 2
    rows = slice(0, half) if child & 1 else slice(half, width)
    columns = slice(half, width) if child & 2 else slice(0, half)
    return rows, columns


def parent(children, index, width=TILE_WIDTH):
    """The values of tile ``index`` from ``children`` ({child index: values})."""
    values = np.full((width, width), np.nan)
    for child in range(4):
        if 4 * index + child in children:
            values[child_place(child, width)] = halve(children[4 * index + child])
    return values


def build_lower_orders(deepest_folders, plan, out_folder):
    """Write every lower order's tiles (``orders.lower_orders``), each order from the
    one below it, the deepest order's tiles being under ``deepest_folders``, into
    ``out_folder`` (made under a temporary name, then renamed); returns
    {order: tiles}. One job for them all: each needs the one below, and a lower
    order's few tiles take less than a job's start."""
    counts = {}
    with atomic.folder_output(out_folder) as temporary:
        for order in sorted(orders.lower_orders(plan), reverse=True):
            counts[order] = _write_order(order, [*deepest_folders, temporary], plan, temporary)
    return counts


def _write_order(order, child_folders, plan, out_folder):
    children = tiles_in(child_folders, order + 1)
    parents = sorted({index // 4 for index in children})
    for index in parents:
        quartet = {c: fits.getdata(children[c]) for c in range(4 * index, 4 * index + 4) if c in children}
        render.write_tile(out_folder, order, index, parent(quartet, index), plan["cut"])
    log.info("order %d: %d tiles from %d of order %d", order, len(parents), len(children), order + 1)
    return len(parents)
