"""The mosaic's output frame: a Montage header template.

Three ways to define it (``region`` in the config): a header file, a centre and
size, or ``auto`` (mMakeHdr around all input images).
"""

import math
import warnings

from .. import UserError
from ..files.atomic import discard, temp_path_for, write_text
from .frames import AXES, ctype, short_error

MONTAGE_CSYS = {"equatorial": "EquJ", "galactic": "Galactic", "ecliptic": "EclJ"}


CENTRE_FORMS = (
    "degrees ('83.82 -5.39') or sexagesimal ('05:35:17 -05:23:28', '5h35m17s -5d23m28s';"
    " the first is hours in the equatorial frame, degrees in the others)"
)


def parse_center(text, where="region.center", frame="equatorial"):
    """A centre in degrees or sexagesimal -> (lon, lat) in degrees.

    Two decimal numbers are degrees. Anything else is read by astropy: in the
    equatorial frame a sexagesimal first coordinate is right ascension in hours
    (as catalogues write it), in the galactic and ecliptic frames degrees.

    Parameters
    ----------
    text : str
        The centre, e.g. ``"83.82 -5.39"`` or ``"05:35:17 -05:23:28"``.
    where : str
        The config key named in an error.
    frame : str
        ``equatorial``, ``galactic`` or ``ecliptic``.

    Returns
    -------
    lon, lat : float
        Degrees; lon in [0, 360).
    """
    parts = str(text).replace(",", " ").split()
    try:
        lon, lat = (float(p) for p in parts)
    except ValueError:
        lon, lat = _parse_sexagesimal(str(text), where, frame)
    if not -90.0 <= lat <= 90.0:
        raise UserError(f"{where}: latitude {lat} is outside -90..90 degrees")
    return lon % 360.0, lat


def _parse_sexagesimal(text, where, frame):
    from astropy import units
    from astropy.coordinates import Angle

    parts = text.replace(",", " ").split()
    # "05 35 17 -05 23 28": three numbers each; "05:35:17 -05:23:28", "5h35m17s -5d23m28s": one each
    if len(parts) == 6:
        parts = [":".join(parts[:3]), ":".join(parts[3:])]
    if len(parts) != 2:
        raise UserError(f"{where}: cannot read {text!r} as a centre; give {CENTRE_FORMS}")
    lon_unit = units.hourangle if frame == "equatorial" else units.deg
    try:
        lon = Angle(parts[0], unit=None if parts[0][-1:] in "sdh°" else lon_unit)
        lat = Angle(parts[1], unit=None if parts[1][-1:] in "sd°\"'" else units.deg)
        return float(lon.to_value(units.deg)), float(lat.to_value(units.deg))
    except (ValueError, TypeError, units.UnitsError):
        raise UserError(f"{where}: cannot read {text!r} as a centre; give {CENTRE_FORMS}") from None


def header_text(center, width, height, pixel_scale, projection, frame, rotation):
    """A Montage header template for a rectangular region.

    Parameters
    ----------
    center : str
        The centre, as ``parse_center`` reads it.
    width, height : float
        The region's sides, degrees.
    pixel_scale : float
        Arcsec per pixel.
    projection : str
        A FITS projection code (``TAN``, ``SIN``, ...).
    frame : str
        ``equatorial``, ``galactic`` or ``ecliptic``.
    rotation : float
        CROTA2, degrees east of north.

    Returns
    -------
    str
        The header's text, one card per line, ending with ``END``.
    """
    lon, lat = parse_center(center, frame=frame)
    scale_deg = pixel_scale / 3600.0
    naxis1, naxis2 = box_size(width, height, pixel_scale)
    axis1, axis2 = AXES[frame]
    code = projection.upper()
    lines = [
        ("SIMPLE", "T"),
        ("BITPIX", "-64"),
        ("NAXIS", "2"),
        ("NAXIS1", str(naxis1)),
        ("NAXIS2", str(naxis2)),
        ("CTYPE1", f"'{ctype(axis1, code)}'"),
        ("CTYPE2", f"'{ctype(axis2, code)}'"),
        ("EQUINOX", "2000"),
        ("CRVAL1", repr(lon)),
        ("CRVAL2", repr(lat)),
        ("CRPIX1", repr((naxis1 + 1) / 2.0)),
        ("CRPIX2", repr((naxis2 + 1) / 2.0)),
        ("CDELT1", repr(-scale_deg)),
        ("CDELT2", repr(scale_deg)),
        ("CROTA2", repr(float(rotation))),
    ]
    return "".join(f"{key:<8}= {value}\n" for key, value in lines) + "END\n"


def box_size(width, height, pixel_scale):
    """Pixels along each axis of a box.

    Parameters
    ----------
    width, height : float
        The box's sides, degrees.
    pixel_scale : float
        Arcsec per pixel.

    Returns
    -------
    naxis1, naxis2 : int
        Pixels, at least 1 each (rounded up).
    """
    scale_deg = pixel_scale / 3600.0
    return max(1, math.ceil(width / scale_deg)), max(1, math.ceil(height / scale_deg))


def check_size(naxis1, naxis2, max_pixels, where):
    """Raise a UserError naming ``where`` if a ``naxis1`` x ``naxis2`` mosaic (pixels)
    has more than ``max_pixels`` pixels."""
    pixels = naxis1 * naxis2
    if pixels > max_pixels:
        raise UserError(
            f"{where}: the mosaic would be {naxis1} x {naxis2} = {pixels:,} pixels "
            f"({pixels * 4 / 1e9:.1f} GB as float32), more than max_pixels = {max_pixels:,}. "
            "Check width, height and pixel_scale (arcsec per pixel), or raise max_pixels."
        )


def write_region_header(region, output, max_pixels, raw_table=None, mosaic="mosaic"):
    """Write the header template for one mosaic's ``region`` config.

    Parameters
    ----------
    region : dict
        The mosaic's ``region`` settings: ``header`` (a template's path), ``auto``
        (mMakeHdr around the images of ``raw_table``; ``pixel_scale`` in arcsec),
        or a centre and size (``width``/``height`` in degrees, ``pixel_scale`` in
        arcsec per pixel, ``rotation`` in degrees).
    output : str
        The header file to write.
    max_pixels : int
        The largest mosaic allowed, pixels (a UserError above it).
    raw_table : str, optional
        The raw images' Montage table (for ``auto``).
    mosaic : str
        The mosaic's name, for error messages.
    """
    where = f"mosaics.{mosaic}.region"
    if "header" in region:
        header = read_header_template(region["header"])
        check_size(header["NAXIS1"], header["NAXIS2"], max_pixels, where)
        with open(region["header"], encoding="ascii") as handle:
            text = handle.read()
        if not text.rstrip().endswith("END"):
            text = text.rstrip("\n") + "\nEND\n"
        write_text(output, text)
    elif region.get("auto"):
        _auto_header(region, output, raw_table, max_pixels, where)
    else:
        naxis = box_size(region["width"], region["height"], region["pixel_scale"])
        check_size(*naxis, max_pixels, where)
        text = header_text(
            region["center"],
            region["width"],
            region["height"],
            region["pixel_scale"],
            region["projection"],
            region["frame"],
            region["rotation"],
        )
        write_text(output, text)


def _auto_header(region, output, raw_table, max_pixels, where):
    import MontagePy.main as montage

    temp = temp_path_for(output)
    scale = region["pixel_scale"] / 3600.0
    result = montage.mMakeHdr(
        raw_table,
        temp,
        csys=MONTAGE_CSYS[region["frame"]],
        pixelScale=scale,
        northAligned=1 if region["north_aligned"] else 0,
    )
    try:
        if str(result["status"]) != "0":
            raise UserError(f"{where}: mMakeHdr could not fit the images: {result.get('msg')}")
        check_size(int(result["naxis1"]), int(result["naxis2"]), max_pixels, where)
        with open(temp, encoding="ascii") as handle:
            text = handle.read()
    finally:
        discard(temp)
    write_text(output, text)


def read_header_template(path):
    """A Montage header template (text, one keyword per line) as an astropy Header.

    Parameters
    ----------
    path : str
        The template (e.g. a mosaic's ``region.hdr``).

    Returns
    -------
    astropy.io.fits.Header
        Its cards; NAXIS1/2 in pixels, CRVAL in degrees.

    Raises
    ------
    UserError
        If it cannot be read, is not a FITS header or lacks NAXISn, CTYPEn or CRVALn.
    """
    from astropy.io import fits

    try:
        with open(path, encoding="ascii", errors="strict") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read header template {path!r}: {error}") from None
    cards = [line.rstrip("\n") for line in text.splitlines() if line.strip()]
    cards = [c for c in cards if c.strip().upper() != "END"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header = fits.Header.fromstring("\n".join(cards), sep="\n")
    except Exception as error:
        raise UserError(f"header template {path!r} is not a FITS header: {short_error(error)}") from None
    for key in ("NAXIS1", "NAXIS2", "CTYPE1", "CTYPE2", "CRVAL1", "CRVAL2"):
        if key not in header:
            raise UserError(f"header template {path!r} lacks the keyword {key}")
    return header
