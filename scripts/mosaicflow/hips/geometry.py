"""Where a HiPS tile's pixels are on the sky and in the mosaic, and which tiles
cover a mosaic. HEALPix geometry is astropy-healpix's (nested, ICRS: the
HiPS's frame); the mosaic's frame (Galactic, ecliptic, FK5) is reached by
one rotation of unit vectors, computed once per mosaic.
"""

import functools

import numpy as np
from astropy import units as u
from astropy.coordinates import ICRS, SkyCoord
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales, wcs_to_celestial_frame
from astropy_healpix import HEALPix

from .orders import TILE_WIDTH

# Mosaic pixels between the samples that find the tiles a mosaic touches; a
# tile is at least 256 mosaic pixels wide, and the samples' neighbours are
# taken too, so no tile that a mosaic pixel falls in is missed.
SAMPLE_STEP = 32


class MosaicSky:
    """A mosaic's celestial WCS and shape, and the rotation from ICRS into its frame."""

    def __init__(self, header):
        self.wcs = WCS(header).celestial
        self.shape = (int(header["NAXIS2"]), int(header["NAXIS1"]))
        frame = wcs_to_celestial_frame(self.wcs)
        if isinstance(frame, ICRS):
            self.rotation = np.eye(3)
        else:
            axes = SkyCoord(x=[1.0, 0, 0], y=[0, 1.0, 0], z=[0, 0, 1.0], representation_type="cartesian", frame=ICRS())
            # columns: ICRS's axes in the mosaic's frame
            self.rotation = axes.transform_to(frame).cartesian.xyz.value

    def pixel_scale_deg(self):
        """The side of a mosaic pixel, degrees (geometric mean of the two axes)."""
        scales = proj_plane_pixel_scales(self.wcs)
        return float(np.sqrt(scales[0] * scales[1]))

    def pixels_of(self, lon, lat):
        """Zero-based mosaic pixel coordinates (x, y) of ICRS ``lon``, ``lat`` (radians)."""
        cos_lat = np.cos(lat)
        vectors = np.stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)])
        x, y, z = np.tensordot(self.rotation, vectors, axes=1)
        frame_lon = np.degrees(np.arctan2(y, x)) % 360.0
        frame_lat = np.degrees(np.arcsin(np.clip(z, -1.0, 1.0)))
        return self.wcs.wcs_world2pix(frame_lon, frame_lat, 0)

    def icrs_of(self, x, y):
        """ICRS (lon, lat) in degrees of zero-based mosaic pixel coordinates."""
        frame_lon, frame_lat = self.wcs.wcs_pix2world(x, y, 0)
        lon, lat = np.radians(frame_lon), np.radians(frame_lat)
        vectors = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
        x, y, z = np.tensordot(self.rotation.T, vectors, axes=1)
        return np.degrees(np.arctan2(y, x)) % 360.0, np.degrees(np.arcsin(np.clip(z, -1.0, 1.0)))

    def touched_tiles(self, order):
        """Sorted nested indices of the order-``order`` tiles the mosaic's pixels may fall in."""
        ny, nx = self.shape
        xs = np.unique(np.append(np.arange(0, nx, SAMPLE_STEP), nx - 1))
        ys = np.unique(np.append(np.arange(0, ny, SAMPLE_STEP), ny - 1))
        x, y = np.meshgrid(xs, ys)
        lon, lat = self.icrs_of(x.ravel(), y.ravel())
        healpix = healpix_of(order)
        found = np.unique(healpix.lonlat_to_healpix(lon * u.deg, lat * u.deg))
        neighbours = healpix.neighbours(found).ravel()
        return np.unique(np.concatenate([found, neighbours[neighbours >= 0]])).astype(int).tolist()

    def outline(self, per_side=8):
        """The mosaic's outer edge as ICRS (lon, lat) points in degrees, going round once."""
        ny, nx = self.shape
        t = np.linspace(0.0, 1.0, per_side, endpoint=False)
        left, right, bottom, top = -0.5, nx - 0.5, -0.5, ny - 0.5
        x = np.concatenate(
            [left + t * (right - left), np.full(per_side, right), right - t * (right - left), np.full(per_side, left)]
        )
        y = np.concatenate(
            [np.full(per_side, bottom), bottom + t * (top - bottom), np.full(per_side, top), top - t * (top - bottom)]
        )
        lon, lat = self.icrs_of(x, y)
        return [[round(float(a), 7), round(float(b), 7)] for a, b in zip(lon, lat, strict=True)]


@functools.cache
def healpix_of(order):
    """The nested HEALPix grid of ``order`` (nside 2**order) in ICRS, made once."""
    return HEALPix(nside=2**order, order="nested", frame=ICRS())


@functools.cache
def _offsets(width):
    # A tile's array [row, column] holds the HiPS pixel at dx = 1 - (row + 0.5) / width,
    # dy = (column + 0.5) / width inside its HEALPix pixel: the layout of hipsgen and
    # astropy's reproject (row 0 is the FITS file's first row, the bottom of a PNG).
    centres = (np.arange(width) + 0.5) / width
    return (1.0 - centres)[:, None] * np.ones(width), np.ones(width)[:, None] * centres[None, :]


def tile_lonlat(order, index, width=TILE_WIDTH):
    """Where the centres of tile ``index``'s pixels are on the sky.

    Parameters
    ----------
    order : int
        The tile's HEALPix order.
    index : int
        The tile's nested index.
    width : int
        Pixels a side.

    Returns
    -------
    lon, lat : numpy.ndarray
        ICRS, radians; arrays [row, column] of ``width`` x ``width``.
    """
    dx, dy = _offsets(width)
    lon, lat = healpix_of(order).healpix_to_lonlat(np.full(dx.shape, index), dx=dx, dy=dy)
    return lon.to_value(u.rad), lat.to_value(u.rad)


def tile_position(order, lon_deg, lat_deg, width=TILE_WIDTH):
    """The HiPS pixels that hold ICRS points: the inverse of ``tile_lonlat``, for
    reading a HiPS back.

    Parameters
    ----------
    order : int
        The tiles' HEALPix order.
    lon_deg, lat_deg : float or numpy.ndarray
        ICRS, degrees.
    width : int
        Pixels a side.

    Returns
    -------
    tile, row, column : numpy.ndarray of int
        The tile's nested index and the pixel's 0-based row and column in it.
    """
    healpix = healpix_of(order)
    tile, dx, dy = healpix.lonlat_to_healpix(
        np.asarray(lon_deg) * u.deg, np.asarray(lat_deg) * u.deg, return_offsets=True
    )
    row = np.clip(np.floor((1.0 - dx) * width), 0, width - 1).astype(int)
    column = np.clip(np.floor(dy * width), 0, width - 1).astype(int)
    return tile, row, column


def tile_file(order, index, extension):
    """A tile's path inside a HiPS (the standard's Norder/Dir/Npix layout)."""
    return f"Norder{order}/Dir{(index // 10000) * 10000}/Npix{index}.{extension}"
