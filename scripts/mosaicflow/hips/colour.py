"""The colour HiPS of a composite (``colors:``) whose three mosaics each have a HiPS:
PNG tiles whose red, green and blue are the three bands' grey levels, each band's
FITS tile through its own HiPS's stretch (so each channel is that band's grey PNG
tile), transparent where no band has data. Made in parts like the grey HiPS: the
deepest order in the red band's batches, every lower order in one job; then the folder
(properties with ``dataproduct_subtype = color``, Allsky, MOC).

Its stretch is the grey HiPS's (``render.grey``), not mViewer's of ``color/NAME.png``:
the colour HiPS is the three grey HiPS's tiles side by side, checkable tile by tile.
"""

import logging
import os

import numpy as np
from astropy.io import fits
from PIL import Image

from .. import UserError
from ..files import atomic
from . import folder, geometry, orders, pyramid, render

log = logging.getLogger("mosaicflow")

CHANNELS = ("red", "green", "blue")


def deepest_order(plans):
    """The three bands' one deepest order; their mosaics share a header, so they agree."""
    found = {plans[channel]["order"] for channel in CHANNELS}
    if len(found) != 1:
        raise UserError(f"the colour HiPS's bands have different orders ({sorted(found)}): their pixel scales differ")
    return found.pop()


def part_tiles(part, plans, hips_folders):
    """{order: {index: {channel: FITS tile path}}} of ``part`` (``orders.colour_parts``):
    the tiles any band has."""
    deepest = deepest_order(plans)
    if part == orders.LOWER_ORDERS_PART:
        wanted = {order: None for order in orders.lower_orders(plans["red"])}
    else:
        wanted = {deepest: set(plans["red"]["batches"][int(part.split("-")[1])])}
    tiles = {}
    for order, indices in wanted.items():
        tiles[order] = {}
        for channel in CHANNELS:
            for index, path in pyramid.tiles_in([hips_folders[channel]], order).items():
                if indices is None or index in indices:
                    tiles[order].setdefault(index, {})[channel] = path
    return tiles


def colour_levels(values, stretches):
    """RGBA levels (rows as the FITS tiles': the first at the bottom) of {channel: values or
    None}: each channel ``render.grey`` of its band with its stretch, opaque where any band
    has data."""
    shape = next(v.shape for v in values.values() if v is not None)
    planes, alpha = [], np.zeros(shape, dtype=np.uint8)
    for channel in CHANNELS:
        if values.get(channel) is None:
            planes.append(np.zeros(shape, dtype=np.uint8))
            continue
        level, opaque = render.grey(np.asarray(values[channel], dtype=np.float64), stretches[channel])
        planes.append(level)
        alpha = np.maximum(alpha, opaque)
    return np.dstack([*planes, alpha])


def render_part(part, plans, hips_folders, out_folder):
    """Write the colour PNG tiles of ``part`` into ``out_folder`` (made under a temporary
    name, then renamed); returns how many."""
    stretches = {channel: plans[channel]["cut"] for channel in CHANNELS}
    made = 0
    with atomic.folder_output(out_folder) as temporary:
        for order, tiles in part_tiles(part, plans, hips_folders).items():
            for index, paths in sorted(tiles.items()):
                values = {channel: fits.getdata(path) for channel, path in paths.items()}
                path = os.path.join(temporary, geometry.tile_file(order, index, "png"))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                # FITS rows go up, PNG rows down
                Image.fromarray(colour_levels(values, stretches)[::-1], mode="RGBA").save(path, compress_level=1)
            log.info("colour HiPS %s: %d tiles of order %d", part, len(tiles), order)
            made += len(tiles)
    return made


def write_allsky(out, plans, hips_folders):
    """Allsky.png of order 3: the bands' grey Allsky values through their stretches."""
    allsky = {}
    for channel in CHANNELS:
        path = os.path.join(hips_folders[channel], f"Norder{orders.ALLSKY_ORDER}", "Allsky.fits")
        allsky[channel] = fits.getdata(path) if os.path.exists(path) else None
    levels = colour_levels(allsky, {channel: plans[channel]["cut"] for channel in CHANNELS})
    Image.fromarray(levels[::-1], mode="RGBA").save(os.path.join(out, f"Norder{orders.ALLSKY_ORDER}", "Allsky.png"))


def write_colour_hips(name, plans, hips_folders, part_folders, out_folder):
    """The colour HiPS of composite ``name`` in ``out_folder`` from the jobs' folders
    ``part_folders``; returns the number of tiles of every order."""
    order = deepest_order(plans)
    with atomic.folder_output(out_folder) as temporary:
        for part in part_folders:
            folder.link_tree(part, temporary)
        write_allsky(temporary, plans, hips_folders)
        sky_fraction = folder.write_moc(temporary, order, "png")
        with open(os.path.join(temporary, "properties"), "w", encoding="utf-8") as handle:
            handle.write(folder.properties(name, plans["red"], sky_fraction, colour=True))
        counts = {o: len(pyramid.tiles_in([temporary], o, "png")) for o in orders.orders(order)}
    log.info("colour HiPS of %s: tiles per order %s", name, counts)
    return counts
