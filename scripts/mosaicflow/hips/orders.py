"""The HiPS's orders and its tiles' batches. Standard library only: the rules'
input functions read the plan with it.

A tile of order k is 512 x 512 HiPS pixels, the HEALPix pixels of order k + 9
(nested) inside the HEALPix pixel k of the tile. The deepest order is the
deepest whose HiPS pixel is not coarser than the mosaic's pixel: the HiPS
keeps all the detail the mosaic has and is at most twice as fine.
"""

import json
import math

TILE_WIDTH = 512  # pixels a side, the HiPS standard's default
TILE_DEPTH = 9  # log2(TILE_WIDTH): a tile's pixels are HEALPix pixels 9 orders deeper
ALLSKY_ORDER = 3  # the Allsky files live here, and the pyramid stops here
MAX_ORDER = 20  # tile pixels at order 29, the deepest HEALPix order astropy-healpix handles
MIN_BATCH_TILES = 8  # tiles a batch job of the deepest order makes at least (unless the HiPS has fewer)
LOWER_ORDERS_PART = "lower"  # the colour HiPS job that makes every lower order (the grey one's: hips_parts/lower)


def hips_pixel_deg(order):
    """The side of a HiPS pixel of a tile of ``order`` (the square root of its area).

    Parameters
    ----------
    order : int
        The tiles' HEALPix order.

    Returns
    -------
    float
        Degrees.
    """
    return math.degrees(math.sqrt(math.pi / 3)) / 2 ** (order + TILE_DEPTH)


def deepest_order(pixel_scale_deg):
    """The deepest order whose HiPS pixel is not coarser than the mosaic's pixel.

    Parameters
    ----------
    pixel_scale_deg : float
        The mosaic's pixel side, degrees.

    Returns
    -------
    int
        The order, within ALLSKY_ORDER .. MAX_ORDER.
    """
    order = math.ceil(math.log2(hips_pixel_deg(0) / pixel_scale_deg) - 1e-9)
    return min(MAX_ORDER, max(ALLSKY_ORDER, order))


def orders(deepest):
    """The HiPS's orders, from the Allsky's order to ``deepest``."""
    return list(range(min(ALLSKY_ORDER, deepest), deepest + 1))


def batch_count(tiles, batches):
    """How many batches ``tiles`` tiles are cut into: ``batches`` (hips_batches), fewer
    where a batch would hold under MIN_BATCH_TILES (a job's start would outweigh its work)."""
    return max(1, min(batches, tiles // MIN_BATCH_TILES))


def split(tiles, batches):
    """``tiles`` (sorted nested indices) cut into at most ``batches`` runs of
    consecutive indices, as equal in size as can be: consecutive nested indices
    are neighbours on the sky, so each batch job reads one compact part of the mosaic."""
    count = min(batches, len(tiles))
    return [tiles[i * len(tiles) // count : (i + 1) * len(tiles) // count] for i in range(count)]


def read_plan(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def lower_orders(plan):
    """The orders the pyramid makes (one job, ``pyramid.build_lower_orders``), each from the order below it."""
    return [order for order in orders(plan["order"]) if order < plan["order"]]


def colour_parts(plan):
    """The colour HiPS jobs' parts, from the red band's plan: ``batch-N`` per batch of
    the deepest order, then one part of every lower order (if the HiPS has any)."""
    return [f"batch-{b}" for b in range(len(plan["batches"]))] + ([LOWER_ORDERS_PART] if lower_orders(plan) else [])
