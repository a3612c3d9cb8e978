"""An image's pixel grid described in another celestial frame, for mProjectPP.

mProjectPP (plane to plane) needs input and output in the same coordinate
system; across frames the workflow used mProject, about 20x slower. Between
equatorial J2000, Galactic and ecliptic J2000, Montage's frame change is a
rotation of the sphere up to a smooth perturbation below 0.4 arcsec (Montage
goes through FK4 B1950 with E-terms of aberration and the FK5-FK4 systematic
corrections, see lib/src/coord/convertCoordinates.c). A zenithal projection
(TAN, SIN, ZEA, STG, ARC; TAN with SIP distortion) about CRVAL is therefore,
to far below a pixel, the same projection in the other frame with

- CRVAL' = CRVAL converted into the other frame,
- CD' = J CD, where J is the 2 x 2 derivative of the frame change in the
  tangent planes at CRVAL and CRVAL' (a rotation by the angle between the two
  frames' north directions, plus Montage's perturbation to first order),
- LONPOLE 180 (the default for zenithal projections) on both sides,
- SIP (A_, B_, AP_, BP_) unchanged: it acts on pixels before the CD matrix.

The conversion itself is Montage's own (``convertCoordinates`` through
``mCoord`` on small header-only "plate carree" files), so the rotated header
agrees with what mProject computes, not with another library's Galactic
frame (astropy's differs from Montage's by 0.07-0.4 arcsec). Every rotated
header is then checked with Montage at the image's corners and centre against
the header it came from; the caller falls back to mProject if it is off by more
than ``MAX_ERROR_PIXELS``.

Standard library only (plus MontagePy when converting): this runs in the
per-image projection jobs.
"""

import math
import os

# The frames related by a rotation, by Montage's name for them (coord.h).
ROTATION_FRAMES = {"equatorial": "EQUJ", "galactic": "GAL", "ecliptic": "ECLJ"}
AXES = {"equatorial": ("RA", "DEC"), "galactic": ("GLON", "GLAT"), "ecliptic": ("ELON", "ELAT")}
# The zenithal projections: mProjectPP projects them natively (Montage's
# "intrinsic" list), and for them a frame change is a rotation of the plane.
PLANE_PROJECTIONS = {"TAN", "SIN", "ZEA", "STG", "ARC"}
# Frame of each first or second celestial axis name.
FRAME_OF_AXIS = {axis: frame for frame, axes in AXES.items() for axis in axes}
# A rotated header must reproduce its source this well (pixels), checked with Montage.
MAX_ERROR_PIXELS = 0.01

_LINEAR_KEYS = ("CD1_1", "CD1_2", "CD2_1", "CD2_2")
_SIP_PREFIXES = ("A_", "B_", "AP_", "BP_")
# Keywords with which wcstools would read a different WCS than the one rotated here.
_UNSUPPORTED_KEYS = ("CO1_1", "PLTRAH", "WAT1_001", "DQ1", "DQ2")


class FrameError(ValueError):
    """A header that cannot be rotated into another frame (use mProject)."""


# ---- headers ------------------------------------------------------------------


class Header:
    """FITS cards of a Montage header file, in order, with parsed values."""

    def __init__(self, cards):
        self.cards = list(cards)  # (key, value, text)
        self.values = {}
        for key, value, _ in self.cards:
            self.values.setdefault(key, value)

    def get(self, key, default=None):
        return self.values.get(key, default)

    def __contains__(self, key):
        return key in self.values


def parse_card(text):
    """(key, value, text) of one 80-column card; value None for commentary cards."""
    text = text.rstrip("\r\n")
    key = text[:8].strip().upper()
    equals = text.find("=", 0, 10)
    if text[8:10] != "= " and (equals < 1 or key in ("COMMENT", "HISTORY")):
        return key, None, text
    if text[8:10] != "= ":  # a hand-written template such as "NAXIS1 = 100": Montage reads it
        key = text[:equals].strip().upper()
    rest = text[(10 if text[8:10] == "= " else equals + 1) :].strip()
    if rest.startswith("'"):
        value, i = "", 1
        while i < len(rest):
            if rest[i] == "'":
                if rest[i + 1 : i + 2] == "'":
                    value += "'"
                    i += 2
                    continue
                break
            value += rest[i]
            i += 1
        return key, value.rstrip(), text
    token = rest.split("/", 1)[0].strip()
    return key, _number(token), text


def _number(token):
    if token in ("T", "F"):
        return token == "T"
    try:
        return int(token)
    except ValueError:
        pass
    try:
        return float(token.replace("D", "E").replace("d", "e"))
    except ValueError:
        return token


def read_header_file(path):
    """A Montage header file (as mGetHdr, mTANHdr or mMakeHdr write it)."""
    with open(path, encoding="ascii", errors="replace") as handle:
        cards = []
        for line in handle:
            if not line.strip():
                continue
            card = parse_card(line)
            if card[0] == "END":
                break
            cards.append(card)
    return Header(cards)


def format_card(key, value):
    """One card as Montage and cfitsio read it (numbers right-aligned at column 30)."""
    if isinstance(value, bool):
        text = "T" if value else "F"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = "'" + str(value).replace("'", "''").ljust(8) + "'"
        return f"{key:<8}= {text}"
    return f"{key:<8}= {text:>20}"


def write_header_file(lines, path):
    """A Montage header file: one card per line, then END."""
    with open(path, "w", encoding="ascii") as handle:
        handle.write("".join(line.rstrip() + "\n" for line in lines) + "END\n")


FITS_BLOCK = 2880


def is_whole_fits(path):
    """Whether ``path`` exists and is a whole number of FITS blocks (not empty):
    what every FITS file the workflow writes is, and what a file cut short by a
    power loss (its data never written back) usually is not."""
    try:
        size = os.stat(path).st_size
    except OSError:
        return False
    return size > 0 and size % FITS_BLOCK == 0


def fits_header_bytes(lines):
    """A FITS header from card lines: END added, padded to whole 2880-byte blocks."""
    block = "".join(line.rstrip()[:80].ljust(80) for line in lines) + "END".ljust(80)
    return block.ljust(-(-len(block) // FITS_BLOCK) * FITS_BLOCK).encode("ascii")


def write_header_only_fits(lines, path):
    """A FITS file holding only these header cards (enough for mCoord)."""
    with open(path, "wb") as handle:
        handle.write(fits_header_bytes(lines))


def read_fits_header(path):
    """(header bytes, Header) of a FITS file's primary HDU, without astropy.

    Raises ValueError when the header has no END card (a truncated file).
    """
    with open(path, "rb") as handle:
        raw = b""
        while True:
            block = handle.read(FITS_BLOCK)
            if len(block) < FITS_BLOCK:
                raise ValueError(f"{path}: no END card (truncated FITS header)")
            raw += block
            if any(block[i : i + 8] == b"END     " for i in range(0, FITS_BLOCK, 80)):
                break
    cards = []
    for i in range(0, len(raw), 80):
        card = parse_card(raw[i : i + 80].decode("ascii", "replace"))
        if card[0] == "END":
            break
        cards.append(card)
    return raw, Header(cards)


# ---- which frame ----------------------------------------------------------------


def _ctype_parts(header):
    """(axis name, projection code, has SIP) of CTYPE1, or None if not of the form XXXX-PPP[-SIP]."""
    ctype1 = str(header.get("CTYPE1", "")).strip().upper()
    if len(ctype1) not in (8, 12) or ctype1[4] != "-" or ctype1[8:] not in ("", "-SIP"):
        return None
    return ctype1[:4].rstrip("-"), ctype1[5:8], ctype1[8:] == "-SIP"


def ctype(axis, projection):
    """A CTYPE value: the axis name padded with '-' to five characters, then the
    projection ('RA---TAN', 'GLON-CAR', 'RA---TAN-SIP')."""
    return axis.ljust(5, "-") + projection


def projection_code(header):
    """Projection code of a header ('TAN' for 'RA---TAN-SIP'), or ''."""
    parts = _ctype_parts(header)
    return parts[1] if parts else ""


def _equinox(header):
    """(equinox, system keyword or '') as wcstools reads them (wcsinit.c, wcseqm)."""
    system = str(header.get("RADECSYS", "") or "").strip().upper()
    value = header.get("EQUINOX")
    if isinstance(value, str):
        text = value.strip().upper()
        try:
            if text[:1] in ("J", "B"):
                return float(text[1:]), "FK5" if text[0] == "J" else "FK4"
            return float(text), system
        except ValueError:
            return None, system
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), system
    epoch = header.get("EPOCH")
    if isinstance(epoch, (int, float)) and not isinstance(epoch, bool):
        return (float(epoch) or 1950.0), system
    if system.startswith("FK4"):
        return 1950.0, system
    return 2000.0, system


def montage_system(header):
    """(system, epoch) Montage's projectors use for a header: ('EQUJ', 2000.0), ('GAL', 2000.0)...

    Mirrors wcstools' wcsinit (which reads RADECSYS, not RADESYS) and the
    choice in mProject and mProjectPP; anything else counts as EQUJ 2000.
    mProjectPP refuses two headers whose systems differ.
    """
    ctype1 = str(header.get("CTYPE1", "")).strip().upper()
    equinox, system = _equinox(header)
    if ctype1.startswith("G"):
        return "GAL", 2000.0
    if ctype1.startswith("E"):
        return ("ECLB", 1950.0) if equinox == 1950.0 else ("ECLJ", 2000.0)
    if not (ctype1.startswith("RA") or ctype1.startswith("DEC")):
        return "EQUJ", 2000.0
    if not system:
        system = "FK5" if (equinox or 0) > 1980 else "FK4"
    if system.startswith("FK4") or system.startswith("B"):
        return "EQUB", 2000.0 if equinox == 2000.0 else 1950.0
    return "EQUJ", 1950.0 if equinox == 1950.0 else 2000.0


def rotation_frame(header):
    """'equatorial', 'galactic' or 'ecliptic' if a header's frame is one of those
    related by a rotation (J2000/ICRS equatorial, Galactic, J2000 ecliptic),
    read the same by Montage and by the FITS standard; None otherwise
    (B1950/FK4, other equinoxes, supergalactic, unknown or unusual axes).
    """
    parts = _ctype_parts(header)
    if parts is None:
        return None
    axis = parts[0]
    ctype2 = str(header.get("CTYPE2", "")).strip().upper()
    for frame, (lon, lat) in AXES.items():
        if axis != lon:
            continue
        if ctype2 and ctype2[:4].rstrip("-") != lat:
            return None
        if frame == "galactic":
            return frame
        equinox, _ = _equinox(header)
        if equinox != 2000.0:
            return None
        for key in ("RADESYS", "RADECSYS"):
            if str(header.get(key, "") or "").strip().upper() not in ("", "FK5", "ICRS"):
                return None
        if montage_system(header) != (ROTATION_FRAMES[frame], 2000.0):
            return None
        return frame
    return None


# ---- sphere ---------------------------------------------------------------------


def _vector(lon, lat):
    lon, lat = math.radians(lon), math.radians(lat)
    return (math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat))


def _angles(v):
    lon = math.degrees(math.atan2(v[1], v[0])) % 360.0
    lat = math.degrees(math.atan2(v[2], math.hypot(v[0], v[1])))
    return lon, lat


def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _tangent_basis(lon, lat):
    """East and north unit vectors at (lon, lat)."""
    lon, lat = math.radians(lon), math.radians(lat)
    east = (-math.sin(lon), math.cos(lon), 0.0)
    north = (-math.sin(lat) * math.cos(lon), -math.sin(lat) * math.sin(lon), math.cos(lat))
    return east, north


def _off_pole(lat):
    # At a pole the orientation (and the default LONPOLE) is ambiguous.
    return abs(lat) < 90.0 - 1e-7


def tangent_jacobian(lon, lat, convert, step=1e-3):
    """The frame change at (lon, lat) as (lon', lat') and J, the 2 x 2 derivative
    of the standard (gnomonic, east/north) coordinates about (lon', lat') with
    respect to those about (lon, lat). For a pure rotation J is a rotation.

    Parameters
    ----------
    lon, lat : float
        A position in the source frame, degrees.
    convert : callable
        ``convert(lon, lat) -> (lon', lat')``, degrees to degrees.
    step : float
        The finite-difference step in standard coordinates, radians.

    Returns
    -------
    (lon', lat') : tuple of float
        The position in the target frame, degrees.
    jacobian : tuple of tuple of float
        ((d xi'/d xi, d xi'/d eta), (d eta'/d xi, d eta'/d eta)), dimensionless.

    Raises
    ------
    FrameError
        If either position is at a celestial pole.
    """
    centre = _vector(lon, lat)
    east, north = _tangent_basis(lon, lat)
    lon2, lat2 = convert(lon, lat)
    if not (_off_pole(lat) and _off_pole(lat2)):
        raise FrameError("reference point at a celestial pole")
    centre2 = _vector(lon2, lat2)
    east2, north2 = _tangent_basis(lon2, lat2)

    def standard(xi, eta):
        v = tuple(c + xi * e + eta * n for c, e, n in zip(centre, east, north, strict=True))
        w = _vector(*convert(*_angles(v)))
        depth = _dot(w, centre2)
        return _dot(w, east2) / depth, _dot(w, north2) / depth

    plus_x, minus_x = standard(step, 0.0), standard(-step, 0.0)
    plus_y, minus_y = standard(0.0, step), standard(0.0, -step)
    jacobian = (
        ((plus_x[0] - minus_x[0]) / (2 * step), (plus_y[0] - minus_y[0]) / (2 * step)),
        ((plus_x[1] - minus_x[1]) / (2 * step), (plus_y[1] - minus_y[1]) / (2 * step)),
    )
    return (lon2, lat2), jacobian


# ---- the rotated header --------------------------------------------------------------


def linear_part(header):
    """The CD matrix as wcstools derives it (from CDi_j, or CDELT with PC or CROTA2).

    Parameters
    ----------
    header : Header
        A Montage header (``read_header_file``).

    Returns
    -------
    ((cd11, cd12), (cd21, cd22)) : tuple of tuple of float
        Degrees per pixel.

    Raises
    ------
    FrameError
        If there is neither a CD matrix nor usable CDELT1/CDELT2.
    """
    if any(key in header for key in _LINEAR_KEYS):
        cd = [float(header.get(key, 0.0) or 0.0) for key in _LINEAR_KEYS]
        return (cd[0], cd[1]), (cd[2], cd[3])
    cdelt1, cdelt2 = header.get("CDELT1"), header.get("CDELT2")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v != 0 for v in (cdelt1, cdelt2)):
        raise FrameError("no CD matrix and no usable CDELT1/CDELT2")
    if "PC001001" in header:
        names = ("PC001001", "PC001002", "PC002001", "PC002002")
    elif "PC1_1" in header:
        names = ("PC1_1", "PC1_2", "PC2_1", "PC2_2")
    else:
        rho = math.radians(float(header.get("CROTA2", 0.0) or 0.0))
        c, s = math.cos(rho), math.sin(rho)
        return (cdelt1 * c, -cdelt2 * s), (cdelt1 * s, cdelt2 * c)
    pc = [float(header.get(name, default)) for name, default in zip(names, (1.0, 0.0, 0.0, 1.0), strict=True)]
    return (cdelt1 * pc[0], cdelt1 * pc[1]), (cdelt2 * pc[2], cdelt2 * pc[3])


def rotated_cards(header, target_frame, convert):
    """Cards of ``header``'s pixel grid described in ``target_frame``.

    Parameters
    ----------
    header : Header
        The source grid (``read_header_file``): a zenithal projection (TAN with
        or without SIP, SIN, ZEA, STG, ARC) in a frame ``rotation_frame`` knows.
    target_frame : str
        ``equatorial``, ``galactic`` or ``ecliptic``.
    convert : callable
        ``convert(lon, lat) -> (lon', lat')`` from the header's frame to the
        target frame, degrees.

    Returns
    -------
    list of str
        80-column cards: the same NAXIS, CRPIX (pixels) and SIP terms, a new
        CRVAL (degrees) and CD matrix (degrees per pixel).

    Raises
    ------
    FrameError
        If a frame rotation does not map the header's projection exactly onto itself.
    """
    parts = _ctype_parts(header)
    source_frame = rotation_frame(header)
    if parts is None or source_frame is None or target_frame not in AXES:
        raise FrameError("not a frame related to the target by a rotation")
    _, code, sip = parts
    if code not in PLANE_PROJECTIONS or (sip and code != "TAN"):
        raise FrameError(f"projection {code} is not zenithal")
    for key in header.values:
        if (key.startswith("PV") and key[2:3].isdigit()) or key in _UNSUPPORTED_KEYS:
            raise FrameError(f"keyword {key} (projection parameters or a non-standard WCS)")
    lonpole = header.get("LONPOLE", header.get("LONGPOLE", 180.0))
    if lonpole != 180.0:
        raise FrameError(f"LONPOLE {lonpole}")
    try:
        crval = float(header.get("CRVAL1")), float(header.get("CRVAL2"))
        crpix = float(header.get("CRPIX1")), float(header.get("CRPIX2"))
        naxis = int(header.get("NAXIS1")), int(header.get("NAXIS2"))
    except (TypeError, ValueError):
        raise FrameError("missing CRVAL, CRPIX or NAXIS") from None
    cd = linear_part(header)
    (lon2, lat2), j = tangent_jacobian(crval[0], crval[1], convert)
    new_cd = [
        [j[0][0] * cd[0][0] + j[0][1] * cd[1][0], j[0][0] * cd[0][1] + j[0][1] * cd[1][1]],
        [j[1][0] * cd[0][0] + j[1][1] * cd[1][0], j[1][0] * cd[0][1] + j[1][1] * cd[1][1]],
    ]
    lon_axis, lat_axis = AXES[target_frame]
    suffix = "-SIP" if sip else ""
    lines = [
        format_card("SIMPLE", True),
        format_card("BITPIX", -64),
        format_card("NAXIS", 2),
        format_card("NAXIS1", naxis[0]),
        format_card("NAXIS2", naxis[1]),
        format_card("CTYPE1", ctype(lon_axis, code + suffix)),
        format_card("CTYPE2", ctype(lat_axis, code + suffix)),
    ]
    if target_frame != "galactic":
        lines.append(format_card("EQUINOX", 2000.0))
    lines += [
        format_card("CRVAL1", lon2),
        format_card("CRVAL2", lat2),
        format_card("CRPIX1", crpix[0]),
        format_card("CRPIX2", crpix[1]),
        format_card("CD1_1", new_cd[0][0]),
        format_card("CD1_2", new_cd[0][1]),
        format_card("CD2_1", new_cd[1][0]),
        format_card("CD2_2", new_cd[1][1]),
    ]
    if sip:
        lines += [text for key, _, text in header.cards if key.startswith(_SIP_PREFIXES)]
    return lines


# ---- Montage's frame conversion ----------------------------------------------------


class MontageConverter:
    """Montage's own coordinate conversion (convertCoordinates), through mCoord.

    mCoord converts between equatorial J2000 and an image's frame. On a
    header-only plate carree file with CRVAL (0, 0) and one-degree pixels, its
    pixel coordinates are longitude and latitude (exact to 1e-13 degrees), so
    it converts any position between equatorial J2000 and that file's frame,
    and two such files convert between any two frames through equatorial.
    This is the same path mProject takes between Galactic and ecliptic.
    """

    CENTRE = (181.0, 91.0)  # pixel of (0, 0); longitudes -180..180 fit inside the file

    def __init__(self, scratch, montage=None):
        if montage is None:
            import MontagePy.main as montage
        self.montage = montage
        self.scratch = scratch
        self.files = {}

    def _file(self, frame):
        if frame not in self.files:
            lon, lat = AXES[frame]
            lines = [
                format_card("SIMPLE", True),
                format_card("BITPIX", 8),
                format_card("NAXIS", 2),
                format_card("NAXIS1", 361),
                format_card("NAXIS2", 181),
                format_card("CTYPE1", ctype(lon, "CAR")),
                format_card("CTYPE2", ctype(lat, "CAR")),
            ]
            if frame != "galactic":
                lines.append(format_card("EQUINOX", 2000.0))
            lines += [
                format_card("CRVAL1", 0.0),
                format_card("CRVAL2", 0.0),
                format_card("CRPIX1", self.CENTRE[0]),
                format_card("CRPIX2", self.CENTRE[1]),
                format_card("CDELT1", 1.0),
                format_card("CDELT2", 1.0),
            ]
            path = os.path.join(self.scratch, f"frame-{frame}.fits")
            write_header_only_fits(lines, path)
            self.files[frame] = path
        return self.files[frame]

    def _call(self, path, x, y, in_pixels):
        result = self.montage.mCoord(path, ra=x, dec=y, locinpix=in_pixels)
        if str(result.get("status")) != "0":
            raise FrameError(f"mCoord: {result.get('msg')}")
        return result

    def to_equatorial(self, lon, lat, frame):
        if frame == "equatorial":
            return lon % 360.0, lat
        x = (lon + 180.0) % 360.0 - 180.0 + self.CENTRE[0]
        result = self._call(self._file(frame), x, lat + self.CENTRE[1], True)
        return result["ra"] % 360.0, result["dec"]

    def from_equatorial(self, ra, dec, frame):
        if frame == "equatorial":
            return ra % 360.0, dec
        result = self._call(self._file(frame), ra % 360.0, dec, False)
        return (result["xpix"] - self.CENTRE[0]) % 360.0, result["ypix"] - self.CENTRE[1]

    def function(self, source, target):
        """convert(lon, lat) from ``source`` to ``target`` frame."""

        def convert(lon, lat):
            return self.from_equatorial(*self.to_equatorial(lon, lat, source), target)

        return convert

    def pixel_to_equatorial(self, image, x, y, hdu=0):
        """Equatorial J2000 position of pixel (x, y) (FITS, 1-based) of an image, per Montage."""
        result = self.montage.mCoord(image, hdu=hdu, ra=x, dec=y, locinpix=True)
        if str(result.get("status")) != "0":
            raise FrameError(f"mCoord of {image}: {result.get('msg')}")
        return result["ra"], result["dec"]


def _separation_arcsec(a, b):
    va, vb = _vector(*a), _vector(*b)
    cross = (
        va[1] * vb[2] - va[2] * vb[1],
        va[2] * vb[0] - va[0] * vb[2],
        va[0] * vb[1] - va[1] * vb[0],
    )
    return math.degrees(math.atan2(math.sqrt(_dot(cross, cross)), _dot(va, vb))) * 3600.0


def write_rotated_header(source_header, target_frame, output, scratch, source_image=None, hdu=0, montage=None):
    """Write ``source_header`` (a header file)'s pixel grid in ``target_frame`` to
    ``output`` and return how far it is from the source, measured with Montage
    at the corners and the centre.

    Parameters
    ----------
    source_header : str
        A Montage header file.
    target_frame : str
        ``equatorial``, ``galactic`` or ``ecliptic``.
    output : str
        The rotated header file to write.
    scratch : str
        A folder for mCoord's files.
    source_image : str, optional
        A FITS file with the source WCS (e.g. the raw image) to compare with; by
        default a header-only copy of ``source_header``.
    hdu : int
        ``source_image``'s HDU.
    montage : module, optional
        MontagePy.main, if already loaded.

    Returns
    -------
    float
        The largest distance between the two grids at those five points, pixels.

    Raises
    ------
    FrameError
        If the header cannot be rotated.
    """
    header = read_header_file(source_header)
    converter = MontageConverter(scratch, montage)
    source_frame = rotation_frame(header)
    lines = rotated_cards(header, target_frame, converter.function(source_frame, target_frame))
    write_header_file(lines, output)

    rotated_fits = os.path.join(scratch, "rotated-check.fits")
    write_header_only_fits(lines, rotated_fits)
    if source_image is None:
        source_image = os.path.join(scratch, "source-check.fits")
        write_header_only_fits([text for _, _, text in header.cards], source_image)
        hdu = 0
    cd = linear_part(header)
    scale_arcsec = math.sqrt(abs(cd[0][0] * cd[1][1] - cd[0][1] * cd[1][0])) * 3600.0
    nx, ny = int(header.get("NAXIS1")), int(header.get("NAXIS2"))
    worst = 0.0
    for x, y in ((1.0, 1.0), (nx, 1.0), (1.0, ny), (nx, ny), ((nx + 1) / 2.0, (ny + 1) / 2.0)):
        before = converter.pixel_to_equatorial(source_image, x, y, hdu)
        after = converter.pixel_to_equatorial(rotated_fits, x, y)
        worst = max(worst, _separation_arcsec(before, after) / scale_arcsec)
    return worst


def short_error(error):
    """An astropy or wcslib error in one line of at most 200 characters: what, not where."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    # wcslib puts where the error happened first and what it is after
    text = lines[1] if lines[0].startswith("ERROR") and len(lines) > 1 else lines[0]
    return text[:200]
