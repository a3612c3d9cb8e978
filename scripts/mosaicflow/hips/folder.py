"""The HiPS folder ``results/NAME/hips/``: the tiles of every order (hard links
to the jobs' own files, so no tile is stored twice), the ``properties`` file,
the Allsky files of order 3, the MOC (mocpy) and the page to browse it.
Made under a temporary name and renamed, so a killed job leaves no half HiPS."""

import json
import logging
import os
import shutil
import warnings
from datetime import UTC, datetime

import numpy as np
from astropy.io import fits
from PIL import Image

from ..files import atomic, layout
from . import orders, pyramid, render

log = logging.getLogger("mosaicflow")

ALLSKY_COLUMNS = 27  # tiles per row of the Allsky image (hipsgen's layout: sqrt(768))
ALLSKY_TILE = 64  # pixels a side of each tile in it
PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "viewer.html")


def link_tree(source, target):
    """Hard-link every file under ``source`` to the same place under ``target`` (a copy
    where the filesystem has no hard links); returns how many."""
    count = 0
    for folder, _, names in os.walk(source):
        into = os.path.join(target, os.path.relpath(folder, source))
        os.makedirs(into, exist_ok=True)
        for name in names:
            try:
                os.link(os.path.join(folder, name), os.path.join(into, name))
            except OSError:
                shutil.copy2(os.path.join(folder, name), os.path.join(into, name))
            count += 1
    return count


def allsky(tiles, width=orders.TILE_WIDTH):
    """The Allsky image of order 3 (PNG orientation: first row at the top) from
    {index: values} of its tiles, NaN where no tile is."""
    rows = -(-768 // ALLSKY_COLUMNS)
    image = np.full((rows * ALLSKY_TILE, ALLSKY_COLUMNS * ALLSKY_TILE), np.nan)
    factor = width // ALLSKY_TILE
    for index, values in tiles.items():
        small = values[::-1].reshape(ALLSKY_TILE, factor, ALLSKY_TILE, factor)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # blocks without data: NaN
            small = np.nanmean(small, axis=(1, 3))
        row, column = divmod(index, ALLSKY_COLUMNS)
        image[row * ALLSKY_TILE : (row + 1) * ALLSKY_TILE, column * ALLSKY_TILE : (column + 1) * ALLSKY_TILE] = small
    return image


def write_allsky(folder, stretch):
    order = orders.ALLSKY_ORDER
    tiles = {index: fits.getdata(path) for index, path in pyramid.tiles_in([folder], order).items()}
    image = allsky(tiles)
    fits.PrimaryHDU(image[::-1].astype(np.float32)).writeto(os.path.join(folder, f"Norder{order}", "Allsky.fits"))
    level, alpha = render.grey(image, stretch)
    Image.fromarray(np.dstack([level, level, level, alpha]), mode="RGBA").save(
        os.path.join(folder, f"Norder{order}", "Allsky.png")
    )


def write_moc(folder, order, extension="fits"):
    """Moc.fits: the deepest order's tiles (mocpy); returns its sky fraction."""
    from mocpy import MOC

    cells = np.array(sorted(pyramid.tiles_in([folder], order, extension)), dtype=np.uint64)
    moc = MOC.from_healpix_cells(cells, np.full(len(cells), order, dtype=np.uint8), order)
    moc.save(os.path.join(folder, "Moc.fits"), format="fits", overwrite=True)
    return float(moc.sky_fraction)


def properties(name, plan, sky_fraction, colour=False):
    """The ``properties`` file's lines (HiPS 1.0 keywords); ``colour``: of a colour HiPS
    (PNG tiles only, hipsgen's ``dataproduct_subtype = color``, no FITS values)."""
    values = {
        "creator_did": f"ivo://mosaicflow.local/P/{'color/' if colour else ''}{name}",
        "obs_title": name,
        "dataproduct_type": "image",
        "dataproduct_subtype": "color" if colour else None,
        "hips_version": "1.4",
        "hips_builder": "mosaicflow",
        "hips_release_date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ"),
        "hips_status": "public master clonableOnce",
        "hips_frame": "equatorial",
        "hips_order": plan["order"],
        "hips_order_min": orders.orders(plan["order"])[0],
        "hips_tile_width": orders.TILE_WIDTH,
        "hips_tile_format": "png" if colour else "png fits",
        "hips_pixel_bitpix": None if colour else -32,
        "hips_pixel_cut": None if colour else f"{plan['cut'][0]:.6g} {plan['cut'][2]:.6g}",
        "hips_pixel_scale": f"{plan['hips_pixel_deg']:.6g}",
        "s_pixel_scale": f"{plan['mosaic_pixel_deg']:.6g}",
        "hips_initial_ra": f"{plan['centre'][0]:.7f}",
        "hips_initial_dec": f"{plan['centre'][1]:.7f}",
        "hips_initial_fov": f"{plan['fov_deg']:.6g}",
        "moc_sky_fraction": f"{sky_fraction:.6g}",
    }
    return "".join(f"{key:<20}= {value}\n" for key, value in values.items() if value is not None)


def page(name, plan, colour=None):
    """The page that browses the HiPS (``index.html`` in its folder): Aladin Lite,
    opened on the mosaic with its outline drawn, the colour HiPS as a second layer."""
    settings = {
        "name": name,
        "centre": plan["centre"],
        "fov": plan["fov_deg"],
        "outline": plan["outline"],
        "order": plan["order"],
        "colour": colour,
    }
    with open(PAGE, encoding="utf-8") as handle:
        template = handle.read()
    # JSON inside <script>: "</" would end the element
    text = json.dumps(settings).replace("</", "<\\/")
    return template.replace("VIEWER_URL", layout.VIEWER_URL).replace("{/*SETTINGS*/}", text)


def write_hips(name, plan, parts, out_folder, colour=None):
    """The HiPS of mosaic ``name`` in ``out_folder``, from the folders ``parts`` of the
    batch and pyramid jobs; returns the number of tiles (FITS) of every order."""
    with atomic.folder_output(out_folder) as temporary:
        for part in parts:
            link_tree(part, temporary)
        write_allsky(temporary, plan["cut"])
        sky_fraction = write_moc(temporary, plan["order"])
        with open(os.path.join(temporary, "properties"), "w", encoding="utf-8") as handle:
            handle.write(properties(name, plan, sky_fraction))
        with open(os.path.join(temporary, "index.html"), "w", encoding="utf-8") as handle:
            handle.write(page(name, plan, colour))
        counts = {order: len(pyramid.tiles_in([temporary], order)) for order in orders.orders(plan["order"])}
    log.info("HiPS of %s: tiles per order %s", name, counts)
    return counts
