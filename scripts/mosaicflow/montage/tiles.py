"""Coadding a large mosaic in tiles: one mAdd per tile, then one file.

The tiles share the mosaic's pixel grid (a tile header is the region header
with a smaller NAXIS and a shifted CRPIX, as mSubHdr makes them), so each
output pixel is computed from the same input pixels as in a single mAdd: the
tiled mosaic equals the untiled one bit for bit. The tiles run as parallel
jobs, each reading only the images that touch it, and the assembly copies
rows of bytes, one row in memory at a time.

Standard library and MontagePy only, like ``per_item`` and ``per_mosaic``.
"""

import os
import re

from ..files import atomic, tables
from ..sky.frames import FITS_BLOCK, format_card, read_header_file
from .per_item import StepError, check_status, corrected_folder, load_montage
from .per_mosaic import COADD_METHODS, fits_layout

TILE_NAME = re.compile(r"^r(\d+)c(\d+)$")
CARD = 80
NAN64 = b"\x7f\xf8\x00\x00\x00\x00\x00\x00"  # big-endian float64 NaN, mAdd's blank
ZERO64 = b"\x00" * 8


def tile_steps(naxis1, naxis2, size):
    """(width, height) of the tiles of a naxis1 x naxis2 mosaic with sides of at most ``size``.

    Each axis is cut into as few equal parts as keep within ``size`` (the last
    part a few pixels shorter where it does not divide), not into ``size``
    and a remainder: tiles that run side by side then take about as long.

    Parameters
    ----------
    naxis1, naxis2 : int
        The mosaic's size, pixels.
    size : int
        The longest tile side allowed, pixels.

    Returns
    -------
    width, height : int
        Pixels.
    """

    def step(length):
        parts = -(-length // size)
        return -(-length // parts)

    return step(naxis1), step(naxis2)


def grid(naxis1, naxis2, size):
    """The tiles covering a naxis1 x naxis2 pixel mosaic, row by row.

    Parameters
    ----------
    naxis1, naxis2 : int
        The mosaic's size, pixels.
    size : int
        The longest tile side allowed, pixels (see ``tile_steps``).

    Returns
    -------
    list of tuple
        (name ``rRRcCC``, x0, y0, width, height): 0-based offsets and sizes, pixels.
    """
    step_x, step_y = tile_steps(naxis1, naxis2, size)
    tiles = []
    for row, y0 in enumerate(range(0, naxis2, step_y)):
        for column, x0 in enumerate(range(0, naxis1, step_x)):
            tiles.append((f"r{row:02d}c{column:02d}", x0, y0, min(step_x, naxis1 - x0), min(step_y, naxis2 - y0)))
    return tiles


def tile(naxis1, naxis2, size, name):
    """Where tile ``name`` (``rRRcCC``) is on the mosaic.

    Parameters
    ----------
    naxis1, naxis2, size : int
        As for ``grid``, pixels.
    name : str
        The tile's name.

    Returns
    -------
    x0, y0, width, height : int
        0-based offset and size, pixels.

    Raises
    ------
    StepError
        If ``name`` is not a tile name or lies outside the mosaic.
    """
    match = TILE_NAME.match(name)
    if not match:
        raise StepError(f"{name!r} is not a tile name (rRRcCC)")
    row, column = int(match.group(1)), int(match.group(2))
    step_x, step_y = tile_steps(naxis1, naxis2, size)
    x0, y0 = column * step_x, row * step_y
    if x0 >= naxis1 or y0 >= naxis2:
        raise StepError(f"tile {name} is outside the {naxis1} x {naxis2} mosaic")
    return x0, y0, min(step_x, naxis1 - x0), min(step_y, naxis2 - y0)


def tile_header_text(region, x0, y0, width, height):
    """The region header of one tile: same grid, NAXIS of the tile, CRPIX shifted.

    Parameters
    ----------
    region : frames.Header
        The mosaic's header.
    x0, y0, width, height : int
        The tile's 0-based offset and size, pixels.

    Returns
    -------
    str
        The tile's header text, one card per line, ending with ``END``.
    """
    shifted = {
        "NAXIS1": width,
        "NAXIS2": height,
        "CRPIX1": float(region.get("CRPIX1")) - x0,
        "CRPIX2": float(region.get("CRPIX2")) - y0,
    }
    lines = [format_card(key, shifted[key]) if key in shifted else text for key, _, text in region.cards]
    return "".join(line.rstrip() + "\n" for line in lines) + "END\n"


def images_in_tile(projected_rows, region, x0, y0, width, height):
    """The projected images (rows of projected.tbl) with pixels inside the tile.

    A projected image shares the mosaic's grid, offset by a whole number of
    pixels: its pixel i is the mosaic's pixel i + CRPIX(mosaic) - CRPIX(image).

    Parameters
    ----------
    projected_rows : list of dict
        Rows of projected.tbl (naxis1/2, crpix1/2 in pixels).
    region : frames.Header
        The mosaic's header.
    x0, y0, width, height : int
        The tile's 0-based offset and size, pixels.

    Returns
    -------
    list of dict
        The rows of the images that touch the tile (one pixel of slack).
    """
    crpix = float(region.get("CRPIX1")), float(region.get("CRPIX2"))
    return [row for row in projected_rows if _touches(_extent(row, crpix), x0, y0, width, height)]


def _extent(row, crpix):
    """(first x, last x, first y, last y): an image's pixels on the mosaic (1-based)."""
    first_x = 1 + crpix[0] - float(row["crpix1"])
    first_y = 1 + crpix[1] - float(row["crpix2"])
    return first_x, first_x + int(row["naxis1"]) - 1, first_y, first_y + int(row["naxis2"]) - 1


def _touches(extent, x0, y0, width, height):
    first_x, last_x, first_y, last_y = extent
    # one pixel of slack either way: an extra image costs mAdd nothing but a look
    return first_x <= x0 + width + 1 and last_x >= x0 and first_y <= y0 + height + 1 and last_y >= y0


def tiles_touched(projected_rows, region, size):
    """{tile name: its projected rows} for the tiles that at least one image touches.

    Each image is checked against the few tiles its extent can reach, not
    against every tile: on a field of 10,000 images the all-pairs check was
    the dry run's slowest step of our own.

    Parameters
    ----------
    projected_rows : list of dict
        Rows of projected.tbl (naxis1/2, crpix1/2 in pixels).
    region : frames.Header
        The mosaic's header.
    size : int
        The longest tile side allowed, pixels.

    Returns
    -------
    dict
        {tile name: its rows}, in the grid's order.
    """
    naxis1, naxis2 = region.get("NAXIS1"), region.get("NAXIS2")
    boxes = {name: box for name, *box in grid(naxis1, naxis2, size)}
    step_x, step_y = tile_steps(naxis1, naxis2, size)
    columns, rows = -(-naxis1 // step_x), -(-naxis2 // step_y)
    crpix = float(region.get("CRPIX1")), float(region.get("CRPIX2"))
    members = {}
    for row in projected_rows:
        extent = _extent(row, crpix)
        first_x, last_x, first_y, last_y = extent
        # a tile [x0, x0 + width] is touched only if x0 <= last_x and x0 + width + 1 >= first_x
        column_range = range(max(0, int((first_x - step_x - 1) // step_x)), min(columns - 1, int(last_x // step_x)) + 1)
        row_range = range(max(0, int((first_y - step_y - 1) // step_y)), min(rows - 1, int(last_y // step_y)) + 1)
        for tile_row in row_range:
            for tile_column in column_range:
                name = f"r{tile_row:02d}c{tile_column:02d}"
                if _touches(extent, *boxes[name]):
                    members.setdefault(name, []).append(row)
    return {name: members[name] for name in boxes if name in members}


def tiles_with_images(projected_tbl, region_hdr, size):
    """Names of the tiles that at least one projected image touches.

    Parameters
    ----------
    projected_tbl, region_hdr : str
        The projected table and the mosaic's header file.
    size : int
        The longest tile side allowed, pixels.

    Returns
    -------
    list of str
        Tile names, in the grid's order.
    """
    return list(tiles_touched(tables.read_ipac(projected_tbl), read_header_file(region_hdr), size))


def coadd_tile(images_dir, projected_tbl, region_hdr, size, name, output, method, corrections=None):
    """mAdd of the images that touch tile ``name`` onto the tile's header.

    With ``corrections`` (corrections.tsv), ``images_dir`` holds the projected
    images and their background corrections are applied here first.

    Parameters
    ----------
    images_dir, projected_tbl, region_hdr : str
        The images' folder, their table and the mosaic's header file.
    size : int
        The longest tile side allowed, pixels.
    name : str
        The tile (``rRRcCC``).
    output : str
        The tile's FITS file (its area file beside it), data units of the images.
    method : str
        A key of ``COADD_METHODS`` (mean, median, count).
    corrections : str, optional
        corrections.tsv, to correct the projected images here.

    Returns
    -------
    int
        How many images went into the tile.
    """
    region = read_header_file(region_hdr)
    box = tile(region.get("NAXIS1"), region.get("NAXIS2"), size, name)
    names = {row["fname"] for row in images_in_tile(tables.read_ipac(projected_tbl), region, *box)}
    if not names:
        raise StepError(f"no image touches tile {name}")
    montage = load_montage()
    with (
        atomic.scratch_dir(output) as scratch,
        corrected_folder(images_dir, sorted(names), corrections, output) as folder,
    ):
        header = os.path.join(scratch, "tile.hdr")
        with open(header, "w", encoding="ascii") as handle:
            handle.write(tile_header_text(region, *box))
        table = os.path.join(scratch, "images.tbl")
        tables.filter_ipac(projected_tbl, table, lambda row: row["fname"] in names)
        with atomic.fits_pair(output) as temp:
            result = montage.mAdd(folder, table, header, temp, haveAreas=True, coadd=COADD_METHODS[method])
            check_status(result, f"mAdd of tile {name}")
    return len(names)


def _set_cards(header, replacements):
    """``header`` bytes with the values of some cards replaced."""
    cards = [header[i : i + CARD] for i in range(0, len(header), CARD)]
    for index, card in enumerate(cards):
        key = card[:8].decode("ascii", "replace").strip()
        if key in replacements:
            cards[index] = format_card(key, replacements[key]).ljust(CARD).encode("ascii")
    return b"".join(cards)


def assemble_mosaic(tiles_dir, projected_tbl, region_hdr, size, output):
    """mosaic.fits and its _area companion from the tiles in ``tiles_dir``.

    The tiles expected are those some projected image touches; each must be
    there as ``NAME.fits`` and ``NAME_area.fits``. Returns the tile count.
    """
    names = tiles_with_images(projected_tbl, region_hdr, size)
    images = {name: os.path.join(tiles_dir, f"{name}.fits") for name in names}
    areas = {name: atomic.area_name(path) for name, path in images.items()}
    missing = [path for path in [*images.values(), *areas.values()] if not os.path.exists(path)]
    if missing:
        raise StepError(f"missing coadd tiles: {', '.join(missing[:5])}")
    final_area = atomic.area_name(output)
    # area first, so a present mosaic implies a present area file (as atomic.fits_pair)
    assemble(areas, region_hdr, size, final_area, area=True)
    assemble(images, region_hdr, size, output)
    return len(names)


def assemble(tile_files, region_hdr, size, output, area=False):
    """Write the full mosaic (or its area image) from per-tile mAdd outputs.

    ``tile_files`` maps tile names to files; tiles without one (no image
    touches them) are blank (NaN; area 0). Rows are copied as bytes, so the
    result is exactly what one mAdd of the whole region writes, pixel for
    pixel. Header: the first tile's, with the mosaic's size and CRPIX.

    Parameters
    ----------
    tile_files : dict
        {tile name: its FITS file (BITPIX -64)}.
    region_hdr : str
        The mosaic's header file.
    size : int
        The longest tile side allowed, pixels.
    output : str
        The FITS file to write.
    area : bool
        Whether these are area files (blank is 0, not NaN).
    """
    region = read_header_file(region_hdr)
    naxis1, naxis2 = region.get("NAXIS1"), region.get("NAXIS2")
    if not tile_files:
        raise StepError(f"no tiles to assemble into {output}")
    first = tile_files[sorted(tile_files)[0]]
    header, _, _, bitpix = fits_layout(first)
    if bitpix != -64:
        raise StepError(f"{first}: BITPIX {bitpix}, expected mAdd's -64")
    header = _set_cards(
        header,
        {
            "NAXIS1": naxis1,
            "NAXIS2": naxis2,
            "CRPIX1": float(region.get("CRPIX1")),
            "CRPIX2": float(region.get("CRPIX2")),
        },
    )
    blank = ZERO64 if area else NAN64
    layout = grid(naxis1, naxis2, size)
    handles = {}
    temp = atomic.temp_path_for(output)
    try:
        for name, path in tile_files.items():
            tile_header, width, height, tile_bitpix = fits_layout(path)
            expected = tile(naxis1, naxis2, size, name)
            if (width, height, tile_bitpix) != (expected[2], expected[3], -64):
                raise StepError(f"{path}: {width} x {height} (BITPIX {tile_bitpix}), expected {expected[2:]} x -64")
            handles[name] = open(path, "rb")  # noqa: SIM115 (closed in finally)
            handles[name].seek(len(tile_header))
        with open(temp, "wb") as out:
            out.write(header)
            rows_of_tiles = {}
            for name, _x0, y0, width, height in layout:
                rows_of_tiles.setdefault(y0, []).append((name, width, height))
            for y0 in sorted(rows_of_tiles):
                for _ in range(rows_of_tiles[y0][0][2]):
                    # the handles advance one row per pass: tiles are read in order
                    for name, width, _height in rows_of_tiles[y0]:
                        handle = handles.get(name)
                        data = handle.read(width * 8) if handle else blank * width
                        if len(data) != width * 8:
                            raise StepError(f"{tile_files[name]}: data cut short (truncated file)")
                        out.write(data)
            written = naxis1 * naxis2 * 8
            out.write(b"\x00" * (-written % FITS_BLOCK))
        atomic.commit(temp, output)
    finally:
        for handle in handles.values():
            handle.close()
        atomic.discard(temp)
