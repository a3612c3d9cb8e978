"""The HiPS's plan, made once per mosaic before its tiles: the deepest order
(from the mosaic's pixel scale, ``orders.deepest_order``), the tiles the
mosaic may touch at that order cut into batches of consecutive indices, the
PNG stretch, and where the page opens."""

import json
import logging

import numpy as np
from astropy.io import fits

from ..files import atomic
from . import geometry, orders, render

log = logging.getLogger("mosaicflow")


def make_plan(mosaic_path, batches):
    """The plan of ``mosaic_path``'s HiPS, as a JSON-ready dict."""
    with fits.open(mosaic_path, memmap=True) as hdus:
        sky = geometry.MosaicSky(hdus[0].header)
        stretch = render.cut(hdus[0].data)
    scale = sky.pixel_scale_deg()
    order = orders.deepest_order(scale)
    tiles = sky.touched_tiles(order)
    ny, nx = sky.shape
    centre = sky.icrs_of(np.array([(nx - 1) / 2]), np.array([(ny - 1) / 2]))
    return {
        "order": order,
        "mosaic_pixel_deg": scale,
        "hips_pixel_deg": orders.hips_pixel_deg(order),
        "tiles": len(tiles),
        "batches": orders.split(tiles, orders.batch_count(len(tiles), batches)),
        "cut": stretch,
        "centre": [float(centre[0][0]), float(centre[1][0])],
        "fov_deg": float(max(nx, ny) * scale * 1.2),
        "outline": sky.outline(),
    }


def write_plan(mosaic_path, batches, out_path):
    plan = make_plan(mosaic_path, batches)
    temporary = atomic.temp_path_for(out_path)
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(plan, handle, indent=1)
    atomic.commit(temporary, out_path)
    log.info(
        "order %d (HiPS pixel %.3f arcsec, mosaic pixel %.3f arcsec): %d tiles in %d batches",
        plan["order"],
        plan["hips_pixel_deg"] * 3600,
        plan["mosaic_pixel_deg"] * 3600,
        plan["tiles"],
        len(plan["batches"]),
    )
    return plan
