"""A per-mosaic quality report: what went in, how well the backgrounds match, coverage and depth.

``write_quality_report(mosaic_dir, quality_tsv, depth_png, depth_fits=None)``
reads a finished mosaic folder ``results/NAME/`` and writes:

- ``quality_tsv``: a tidy tab-separated table, one fact per row, columns
  ``section  item  metric  value  unit``. ``item`` is empty on summary rows and
  names the file, image or overlap on per-item rows. Numbers are plain
  (``%.6g`` for reals); ``n/a`` marks a metric that does not apply (for
  example ``rms_after_*`` without background matching) or could not be
  measured (an overlap with no common valid pixels).
- ``depth_png``: the depth map (images per mosaic pixel), one fixed colour
  per depth in every mosaic (``depthmap``), white where no image covers, with
  a legend underneath; every n-th pixel, so at most ``max_size`` (and
  ``DEPTH_MAX_SIZE``) pixels a side.
- ``depth_fits`` (optional): the depth map itself, on the mosaic's grid.

Rows, in order (``section``/``metric``, unit):

``mosaic``
    ``name`` (the folder's name), ``naxis1``/``naxis2`` (pixels),
    ``background_model`` (``none``, or the model given, or ``matched`` when
    inferred from the folder).
``images``
    ``used`` (images, rows of images.tsv), ``skipped`` (files, rows of
    skipped.tsv), ``skipped_KIND`` (files, one row per kind present:
    ``bad-input``, ``outside-region``, ``ignored``).
``skipped`` (one row per skipped file)
    item = the file's path as given, metric = its kind, value = the reason.
``overlaps``
    ``total`` (overlaps: rows of overlaps.tbl, i.e. mOverlaps' pairs),
    ``fitted`` / ``failed`` (overlaps whose fits/PLUS+MINUS.tsv says ``ok`` /
    ``failed``; ``n/a`` without background matching), ``missing`` (fit files
    absent or unreadable; only written when not 0), ``with_common_pixels``
    (overlaps, pairs that share at least one valid pixel; mOverlaps works
    from image corners, so a listed pair may share none).
``overlap_rms`` (data units)
    ``rms_before_median``, ``rms_before_max``: over overlaps, the root mean
    square of (plus - minus) of the *projected* images over their common
    valid pixels, nothing removed; ``rms_after_median``, ``rms_after_max``:
    the same for the *corrected* images over the same pixels (``n/a`` when
    the model is ``none``). For matched images this tends to noise * sqrt(2).
``seams`` (noise units; ``n/a`` without background matching)
    ``median``, ``max``: over overlaps (slivers left out: a few pixels wide at
    the region's edge, a step there does not show), the median of (plus - minus) after
    correction over their common pixels, in units of the plus image's pixel
    noise there (1.4826 x the MAD of adjacent pixels' differences, over
    sqrt(2)); ``max_overlap``: the overlap with the largest.
``fits`` (only with background matching)
    ``sliver`` (fits used with their slope across dropped and the median as level),
    ``rejected`` (fits it did not use): fits_screened.tsv, see ``fitscreen``.
``fit`` (one row per screened fit; item = ``PLUS+MINUS``)
    metric ``sliver`` or ``rejected``, value the reason.
``corrections`` (only with background matching)
    ``images`` (images, rows of corrections.tsv), ``zero`` (images the model
    left uncorrected, a = b = c = 0), ``level_min``/``level_median``/
    ``level_max``/``level_std`` (data units: c, the plane's value at the
    mosaic's reference pixel CRPIX), ``slope_median``/``slope_max`` (data
    units per pixel: sqrt(a^2 + b^2)).
``correction`` (one row pair per image; item = image id)
    ``level`` (data units, c), ``slope`` (data units per pixel).
``overlap`` (per overlap; item = ``PLUS+MINUS`` image ids)
    ``status`` (``ok``/``failed``/``missing``/``n/a``), ``message`` (only
    for failed fits: mDiffFit's message), ``pixels`` (common valid pixels),
    ``rms_before``, ``rms_after``, ``offset_after`` (data units: the median of
    plus - minus after correction), ``seam`` (noise units, as above).
``coverage``
    ``mosaic_pixels`` (pixels, NAXIS1 x NAXIS2), ``covered_pixels`` (pixels
    with at least one image: where mAdd writes a value), ``fraction``
    (covered / all), ``finite_pixels`` (pixels with a finite value in
    mosaic.fits, counted in the mosaic itself), ``finite_fraction``
    (finite / covered: 1 for a sound mosaic).
``depth`` (images per pixel, over pixels with depth >= 1)
    ``covered_pixels`` (pixels), ``min``, ``median``, ``max`` (images),
    ``fraction_ge_2`` (fraction of those pixels covered by 2 or more images).
``depth_histogram`` (item = depth d)
    ``pixels``: how many mosaic pixels have exactly d images (d >= 1).
``verdict``
    ``status``: ``broken`` when the coverage collapsed (``finite_fraction``
    below ``MIN_FINITE_FRACTION``), a seam is above ``SEAM_LIMIT`` or matching
    made the overlaps' median RMS worse, else ``ok``; ``reason``: which.
    The run summary (summary.tsv) reports a broken mosaic as ``broken``.

How things are computed
-----------------------
Projected images are cutouts of the mosaic's grid (Montage shrink-wraps
them), so image pixel (i, j) is mosaic pixel (i + dx, j + dy) with
dx = CRPIX1(region.hdr) - CRPIX1(image) (likewise dy), an integer on Montage's
grids (checked). Each image and its ``_area`` file are read once (straight
from the file: each header is parsed once) and kept, with which pixels are
valid, while the overlaps after it use them (``PIXEL_CACHE_BYTES`` of the
images used last); an overlap is measured over the intersection of its two
cutouts. A pixel is valid where the data are finite and the area is > 0 in
both images.

Depth is Montage's count: what ``mAdd`` in count mode (``coadd=2``) writes
for the projected images of projected.tbl with their area files, the number
of images with a valid pixel (finite, area > 0) at each mosaic pixel, the
valid-pixel rule of the coadd that made the mosaic (so depth >= 1 where the
mosaic has data; tested against mAdd itself). It is counted here in strips of
mosaic rows from the cutouts the overlap measurements placed (mAdd would read
every image again and is several times slower), and the histogram is gathered
in the same pass, so its memory stays at a few tens of MB whatever the mosaic size.

Without background matching (``model: none``) the workflow makes neither
overlaps.tbl nor fits nor corrected images; the overlaps are then found here
with mOverlaps on projected.tbl (milliseconds) so that ``rms_before`` still
measures the unmatched seams.
"""

import collections
import contextlib
import math
import os

import numpy as np

from ..files import atomic, layout, tables
from ..montage import fitscreen, per_item, per_mosaic

COLUMNS = ["section", "item", "metric", "value", "unit"]
NA = "n/a"
# Rows of the mosaic or depth map read at a time: about STRIP_PIXELS pixels.
STRIP_PIXELS = 4_000_000
# The overlap measurements keep the pixels of the images used last, up to this many bytes.
PIXEL_CACHE_BYTES = 256 * 2**20
# The depth map's PNG is at most this many pixels a side, so that it and its legend fit a
# screen (depth is coarse: a 7000-pixel mosaic's map needs no more).
DEPTH_MAX_SIZE = 900
# Offsets between a cutout and the mosaic grid must be whole pixels within this.
GRID_TOLERANCE = 1e-3


class QualityError(RuntimeError):
    """The mosaic folder is not what the report expects."""


def write_quality_report(
    mosaic_dir,
    quality_tsv,
    depth_png,
    depth_fits=None,
    quality_html=None,
    background_model=None,
    max_size=2000,
    fit_jobs="overlap",
    correct_jobs="image",
    fit_batches=1,
):
    """Write ``quality_tsv``, ``depth_png`` (and ``depth_fits``) for ``mosaic_dir``.

    ``background_model`` is the mosaic's ``background.model`` setting; pass it
    from the config. When None it is inferred from the folder: ``none`` if
    there is no corrections.tsv, else ``matched``. (A folder switched from a
    matched model to ``none`` keeps its old corrected/ images; only an
    explicit ``none`` is sure to ignore them.)

    ``fit_jobs`` and ``fit_batches`` are the ``background`` settings that say
    which file holds each fit (``layout.fit_items``); ``correct_jobs`` the
    ``background.correct_jobs`` setting (``coadd``: there are no corrected
    images, the report makes its own).

    ``quality_html`` (optional): the same facts as a page for people
    (``qualitypage``), with a plot of the corrections across the field.

    Returns the rows written (list of dicts with the columns above).
    """
    paths = _Paths(mosaic_dir)
    if background_model is None:
        background_model = "matched" if os.path.exists(paths.corrections) else "none"
    matched = background_model != "none"
    region = _read_region(paths.region)
    rows = Rows()

    rows.add("mosaic", "name", os.path.basename(os.path.normpath(mosaic_dir)))
    rows.add("mosaic", "naxis1", region["naxis1"], "pixels")
    rows.add("mosaic", "naxis2", region["naxis2"], "pixels")
    rows.add("mosaic", "background_model", background_model)

    image_ids = [row["id"] for row in tables.read_tsv(paths.images)]
    skipped = tables.read_tsv(paths.skipped) if os.path.exists(paths.skipped) else []
    rows.add("images", "used", len(image_ids), "images")
    rows.add("images", "skipped", len(skipped), "files")
    kinds = {}
    for row in skipped:
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
    for kind, count in sorted(kinds.items()):
        rows.add("images", f"skipped_{kind}", count, "files")
    for row in skipped:
        rows.add("skipped", row["kind"], row["reason"], item=row["path"])
    failed = tables.read_tsv(paths.failed) if os.path.exists(paths.failed) else []
    rows.add("images", "projection_failed", len(failed), "images")
    for row in failed:
        rows.add("skipped", "projection-failed", row["reason"], item=row["path"])

    with atomic.scratch_dir(quality_tsv) as scratch:
        pairs = _overlap_pairs(paths, matched, scratch)
        # No corrected/ folder with correct_jobs: coadd: subtract mBackground's
        # planes from the overlap's pixels here (no corrected copy of every image).
        planes = per_item.read_corrections(paths.corrections) if matched and correct_jobs == "coadd" else None
        cutouts = {}
        overlap_rows = _measure_overlaps(paths, region, pairs, matched, (fit_jobs, fit_batches), planes, cutouts)
        screened = tables.read_tsv(paths.fits_screened) if matched and os.path.exists(paths.fits_screened) else []
        slivers = {(row["plus"], row["minus"]) for row in screened if row["action"] == fitscreen.SLIVER}
        _overlap_summary(rows, overlap_rows, matched, slivers)
        if matched and os.path.exists(paths.fits_screened):
            for action in (fitscreen.SLIVER, fitscreen.REJECTED):
                rows.add("fits", action, sum(row["action"] == action for row in screened), "fits")
            for row in screened:
                rows.add("fit", row["action"], row["reason"], item=f"{row['plus']}+{row['minus']}")
        small = paths.overlaps_skipped
        if matched and os.path.exists(small):
            # too small for mBgModel, left out before fitting (per_mosaic.overlaps)
            rows.add("overlaps", "skipped_small", len(tables.read_tsv(small)), "overlaps")
        footprints = correction_footprints(paths, region) if matched else []
        if matched:
            _corrections(rows, paths, footprints)
        for entry in overlap_rows:
            item = f"{entry['plus']}+{entry['minus']}"
            rows.add("overlap", "status", entry["status"], item=item)
            if entry["message"]:
                rows.add("overlap", "message", entry["message"], item=item)
            rows.add("overlap", "pixels", entry["pixels"], "pixels", item=item)
            rows.add("overlap", "rms_before", entry["rms_before"], "data units", item=item)
            rows.add("overlap", "rms_after", entry["rms_after"], "data units", item=item)
            rows.add("overlap", "offset_after", entry["offset_after"], "data units", item=item)
            rows.add("overlap", "seam", entry["seam"], "noise units", item=item)

        # every n-th pixel in the PNG, so that it is at most max_size (and DEPTH_MAX_SIZE) pixels a side
        every = per_mosaic.shrink_factor(region["naxis1"], region["naxis2"], min(max_size, DEPTH_MAX_SIZE))
        histogram, sampled = depth_map(
            paths.projected_dir, paths.projected_table, paths.region, cutouts, every, output=depth_fits
        )
        # Covered = at least one image: the same pixels mAdd fills in the mosaic (tested), so
        # the report need not wait for the coadd and runs beside it.
        total = region["naxis1"] * region["naxis2"]
        covered = int(histogram[1:].sum())
        rows.add("coverage", "mosaic_pixels", total, "pixels")
        rows.add("coverage", "covered_pixels", covered, "pixels")
        rows.add("coverage", "fraction", covered / total if total else math.nan, "fraction")
        finite = finite_pixels(paths.mosaic) if os.path.exists(paths.mosaic) else None
        if finite is not None:
            rows.add("coverage", "finite_pixels", finite, "pixels")
            rows.add("coverage", "finite_fraction", finite / covered if covered else math.nan, "fraction")
        _depth_rows(rows, histogram)
        verdict(rows)
        depth_preview(sampled, depth_png, max_depth=max(1, len(histogram) - 1))

    tables.write_tsv(quality_tsv, COLUMNS, rows.rows)
    if quality_html:
        from . import qualitypage

        text = qualitypage.page(rows.rows, footprints, region["naxis1"], region["naxis2"])
        atomic.write_text(quality_html, text)
    return rows.rows


# ---- folder layout and small readers ------------------------------------------


class _Paths:
    def __init__(self, mosaic_dir):
        join = lambda what: layout.in_folder(mosaic_dir, what)
        self.images = join("images")
        self.skipped = join("skipped")
        self.failed = join("failed")
        self.overlaps_skipped = join("overlaps_skipped")
        self.region = join("region")
        self.projected_table = join("projected_table")
        self.projected_dir = join("projected_dir")
        self.corrected_dir = join("corrected_dir")
        self.overlaps = join("overlaps")
        self.fits_dir = join("fits_dir")
        self.corrections = join("corrections")
        self.fits_screened = join("fits_screened")
        self.mosaic = join("mosaic")
        self.mosaic_dir = mosaic_dir

    def projected(self, ident):
        """An image's projection, where the projected table says (ID.fits or batch-N/ID.fits)."""
        if not hasattr(self, "_projected_names"):
            self._projected_names = {
                layout.image_id_of(row["fname"]): row["fname"] for row in tables.read_ipac(self.projected_table)
            }
        return os.path.join(self.projected_dir, self._projected_names[ident])

    def corrected(self, ident):
        return layout.in_folder(self.mosaic_dir, "corrected", image=ident)


class Rows:
    def __init__(self):
        self.rows = []

    def add(self, section, metric, value, unit="", item=""):
        self.rows.append({"section": section, "item": item, "metric": metric, "value": _format(value), "unit": unit})


def _format(value):
    if value is None:
        return NA
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    value = float(value)
    if not math.isfinite(value):
        return NA
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _read_region(path):
    """NAXIS and CRPIX of a Montage header template."""
    from ..sky.frames import read_header_file

    header = read_header_file(path)
    values = {key.lower(): float(header.get(key)) for key in ("NAXIS1", "NAXIS2", "CRPIX1", "CRPIX2") if key in header}
    missing = {"naxis1", "naxis2", "crpix1", "crpix2"} - set(values)
    if missing:
        raise QualityError(f"{path}: no {', '.join(sorted(k.upper() for k in missing))}")
    values["naxis1"] = int(values["naxis1"])
    values["naxis2"] = int(values["naxis2"])
    return values


def _fits():
    from astropy.io import fits

    return fits


# ---- overlaps and their difference RMS ---------------------------------------


def _overlap_pairs(paths, matched, scratch):
    """(plus, minus) pairs: the workflow's overlaps.tbl, or mOverlaps here without matching."""
    if matched:
        return per_mosaic.overlap_pairs(paths.overlaps)
    table = layout.in_folder(scratch, "overlaps")
    per_mosaic.overlaps(paths.projected_table, table, layout.in_folder(scratch, "overlaps_skipped"))
    return per_mosaic.overlap_pairs(table)


class _Cutout:
    """One projected (or corrected) image and its area file, placed on the mosaic grid."""

    def __init__(self, path, region):
        self.path = path
        self.area_path = atomic.area_name(path)
        self.pixels = _ImageRows(path)
        header = self.pixels.header
        self.nx, self.ny = self.pixels.nx, self.pixels.ny
        self.crpix1, self.crpix2 = float(header.get("CRPIX1")), float(header.get("CRPIX2"))
        self.dx = _whole(region["crpix1"] - self.crpix1, path, "CRPIX1")
        self.dy = _whole(region["crpix2"] - self.crpix2, path, "CRPIX2")
        self._area = None

    def box(self):
        """(x0, x1, y0, y1) on the mosaic grid, end-exclusive."""
        return self.dx, self.dx + self.nx, self.dy, self.dy + self.ny

    def plane(self, a, b, c, x0, x1, y0, y1):
        """mBackground's plane over a mosaic-grid box: a x + b y + c, with x and y
        the image's 0-based pixel offsets from its CRPIX (what mBackground subtracts)."""
        i = np.arange(x0 - self.dx, x1 - self.dx)[None, :]
        j = np.arange(y0 - self.dy, y1 - self.dy)[:, None]
        return mbackground_plane(a, b, c, i, j, self.crpix1, self.crpix2)

    def valid_pixels(self):
        """(data, valid) of the whole cutout (``madd_valid``)."""
        data, area = self.read(*self.box())
        return data, madd_valid(data, area)

    def within(self, pixels, box):
        """The part of ``valid_pixels()``'s arrays over a mosaic-grid box inside this cutout."""
        x0, x1, y0, y1 = box
        part = (slice(y0 - self.dy, y1 - self.dy), slice(x0 - self.dx, x1 - self.dx))
        return tuple(array[part] for array in pixels)

    def read(self, x0, x1, y0, y1):
        """Data and area over a mosaic-grid box inside this cutout (only its rows are read)."""
        if self._area is None:
            self._area = _ImageRows(self.area_path)
        rows, columns = (y0 - self.dy, y1 - self.dy), slice(x0 - self.dx, x1 - self.dx)
        # the area only says which pixels are covered (> 0): its values as stored
        return self.pixels.rows(*rows, columns), self._area.rows(*rows, columns, as_float=False)


class _ImageRows:
    """The primary image of a FITS file, read a run of whole rows at a time.

    The header is parsed once (``frames.read_fits_header``); the rows of a
    plain floating-point image (what Montage writes) are then read straight
    from the file at their offset, a run of whole rows being contiguous. Any
    other image (scaled, integer) is read through astropy's ``section``.
    """

    def __init__(self, path):
        from ..sky.frames import read_fits_header

        self.path = path
        try:
            raw, self.header = read_fits_header(path)
        except ValueError as problem:
            raise QualityError(str(problem)) from None
        header = self.header
        self.offset = len(raw)
        self.nx, self.ny = int(header.get("NAXIS1") or 0), int(header.get("NAXIS2") or 0)
        plain = (
            header.get("NAXIS") == 2
            and header.get("BITPIX") in (-32, -64)
            and header.get("BSCALE", 1) == 1
            and header.get("BZERO", 0) == 0
        )
        self.dtype = np.dtype(f">f{abs(header.get('BITPIX')) // 8}") if plain else None

    def rows(self, y0, y1, columns=slice(None), as_float=True):
        """Rows y0 .. y1 - 1 (0-based, end-exclusive), ``columns`` of them, as native
        floats (or, ``as_float=False``, as the file stores them: enough to compare)."""
        if self.dtype is None:
            with _fits().open(self.path, memmap=False, lazy_load_hdus=True) as hdul:
                return np.array(hdul[0].section[y0:y1, :][:, columns], dtype=float)
        count = (y1 - y0) * self.nx
        with open(self.path, "rb") as handle:
            handle.seek(self.offset + y0 * self.nx * self.dtype.itemsize)
            values = np.fromfile(handle, dtype=self.dtype, count=count)
        if values.size < count:
            raise QualityError(f"{self.path}: truncated data (rows {y0}-{y1 - 1} of {self.ny} not all there)")
        values = values.reshape(y1 - y0, self.nx)[:, columns]
        return values.astype(float) if as_float else values


def madd_valid(data, area):
    """Which pixels mAdd uses: finite data whose area is > 0.

    Parameters
    ----------
    data : numpy.ndarray
        Pixel values, data units.
    area : numpy.ndarray
        Montage's area image of the same shape (> 0 where the pixel is covered).

    Returns
    -------
    numpy.ndarray of bool
        True where mAdd uses the pixel.
    """
    with np.errstate(invalid="ignore"):
        return np.isfinite(data) & (area > 0)


def mbackground_plane(a, b, c, i, j, crpix1, crpix2):
    """What mBackground subtracts at 0-based pixel (i, j) of a projected image
    with reference pixel (CRPIX1, CRPIX2): a (i - CRPIX1) + b (j - CRPIX2) + c.

    Parameters
    ----------
    a, b : float
        Slopes, data units per pixel.
    c : float
        Level at the reference pixel, data units.
    i, j : float or numpy.ndarray
        0-based pixel coordinates (arrays broadcast).
    crpix1, crpix2 : float
        The image's reference pixel, pixels.

    Returns
    -------
    float or numpy.ndarray
        Data units.
    """
    return a * (i - crpix1) + b * (j - crpix2) + c


def _whole(offset, path, key):
    nearest = round(offset)
    if abs(offset - nearest) > GRID_TOLERANCE:
        raise QualityError(f"{path}: {key} is {offset:g} pixels off the mosaic grid (not a whole pixel)")
    return int(nearest)


def _intersection(first, second):
    ax0, ax1, ay0, ay1 = first.box()
    bx0, bx1, by0, by1 = second.box()
    x0, x1, y0, y1 = max(ax0, bx0), min(ax1, bx1), max(ay0, by0), min(ay1, by1)
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, x1, y0, y1


def _rms(values):
    return float(np.sqrt(np.mean(np.square(values)))) if values.size else math.nan


def _measure_overlaps(paths, region, pairs, matched, fit_layout=("overlap", 1), planes=None, cutouts=None):
    """Per overlap: fit status and the RMS of plus - minus before and after correction.

    The corrected images are read from ``paths.corrected_dir``, or with ``planes``
    ({id: (a, b, c)}) the projected ones are corrected here as mBackground does.
    ``cutouts`` ({path: _Cutout}, filled here) lets the depth map reuse the headers read.
    """
    cutouts = {} if cutouts is None else cutouts
    fits = {}
    if matched:
        fits = per_mosaic.read_fits(paths.fits_dir, pairs, *fit_layout, strict=False)

    def cutout(path):
        if path not in cutouts:
            cutouts[path] = _Cutout(path, region)
        return cutouts[path]

    # Each image's pixels are read and checked once for all its overlaps while
    # they stay in a cache of recently used images (overlaps come in id order,
    # so an image's overlaps are near each other in the list).
    images = _RecentPixels(PIXEL_CACHE_BYTES)
    results = []
    for plus, minus in pairs:
        entry = {"plus": plus, "minus": minus, "status": NA, "message": "", "pixels": 0}
        entry["rms_before"] = entry["rms_after"] = entry["offset_after"] = entry["seam"] = math.nan
        results.append(entry)
        if matched:
            fit = fits.get((plus, minus), {"status": "missing"})
            entry["status"] = fit["status"]
            entry["message"] = fit.get("message", "") if fit["status"] == "failed" else ""
        first, second = cutout(paths.projected(plus)), cutout(paths.projected(minus))
        box = _intersection(first, second)
        if box is None:
            continue
        plus_data, plus_valid = first.within(images.get(first), box)
        minus_data, minus_valid = second.within(images.get(second), box)
        valid = plus_valid & minus_valid
        entry["pixels"] = int(np.count_nonzero(valid))
        entry["rms_before"] = _rms(plus_data[valid] - minus_data[valid])
        if matched and entry["pixels"] and planes is not None:
            plus_c = (plus_data - first.plane(*planes[plus], *box))[valid]
            minus_c = (minus_data - second.plane(*planes[minus], *box))[valid]
            entry.update(_after(plus_c - minus_c, _pixel_noise(plus_data, valid)))
        if matched and entry["pixels"] and planes is None:
            first_c, second_c = cutout(paths.corrected(plus)), cutout(paths.corrected(minus))
            # Same grid position as the projected image; read the same box.
            plus_c, _ = first_c.read(*box)
            minus_c, _ = second_c.read(*box)
            after = valid & np.isfinite(plus_c) & np.isfinite(minus_c)
            entry.update(_after(plus_c[after] - minus_c[after], _pixel_noise(plus_data, valid)))
    return results


def _after(difference, noise):
    """What is left between two corrected images over their common pixels: the
    RMS, the median (the seam's step, robust to stars that do not subtract
    out) and that step in units of the image's pixel noise: the seam figure."""
    if not difference.size:
        return {"rms_after": math.nan, "offset_after": math.nan, "seam": math.nan}
    median = float(np.median(difference))
    seam = abs(median) / noise if noise > 0 else (0.0 if median == 0 else math.inf)
    return {"rms_after": _rms(difference), "offset_after": median, "seam": seam}


def _pixel_noise(data, valid):
    """One image's pixel noise over ``valid`` pixels: 1.4826 x the MAD of the
    differences of horizontally adjacent pixels, over sqrt(2). Sky structure
    wider than a pixel cancels in those differences; the difference of two
    images would not do (tiles cut from one scan are equal where they overlap)."""
    steps = (data[:, 1:] - data[:, :-1])[valid[:, 1:] & valid[:, :-1]]
    if not steps.size:
        return math.nan
    return 1.4826 * float(np.median(np.abs(steps - np.median(steps)))) / math.sqrt(2)


class _RecentPixels:
    """``_Cutout.valid_pixels()`` of the images used last, up to ``budget`` bytes (at least one image)."""

    def __init__(self, budget):
        self.budget, self.used, self.entries = budget, 0, collections.OrderedDict()

    def get(self, cutout):
        if cutout.path in self.entries:
            self.entries.move_to_end(cutout.path)
            return self.entries[cutout.path]
        pixels = cutout.valid_pixels()
        size = sum(array.nbytes for array in pixels)
        while self.entries and self.used + size > self.budget:
            _, old = self.entries.popitem(last=False)
            self.used -= sum(array.nbytes for array in old)
        self.entries[cutout.path] = pixels
        self.used += size
        return pixels


def _overlap_summary(rows, overlap_rows, matched, slivers=()):
    """The overlaps' summary rows; ``slivers`` ((plus, minus) pairs) count in no seam figure:
    a few pixels wide at the region's edge, a step there does not show in the mosaic."""
    total = len(overlap_rows)
    rows.add("overlaps", "total", total, "overlaps")
    statuses = [entry["status"] for entry in overlap_rows]
    if matched:
        rows.add("overlaps", "fitted", statuses.count("ok"), "overlaps")
        rows.add("overlaps", "failed", statuses.count("failed"), "overlaps")
        if statuses.count("missing"):
            rows.add("overlaps", "missing", statuses.count("missing"), "overlaps")
    else:
        rows.add("overlaps", "fitted", NA, "overlaps")
        rows.add("overlaps", "failed", NA, "overlaps")
    measured = [entry for entry in overlap_rows if entry["pixels"] > 0]
    rows.add("overlaps", "with_common_pixels", len(measured), "overlaps")
    for when in ("before", "after"):
        values = np.array([entry[f"rms_{when}"] for entry in measured], dtype=float)
        values = values[np.isfinite(values)]
        applies = when == "before" or matched
        median = float(np.median(values)) if applies and values.size else math.nan
        largest = float(np.max(values)) if applies and values.size else math.nan
        rows.add("overlap_rms", f"rms_{when}_median", median, "data units")
        rows.add("overlap_rms", f"rms_{when}_max", largest, "data units")
    seams = [
        entry
        for entry in measured
        if matched and np.isfinite(entry["seam"]) and (entry["plus"], entry["minus"]) not in slivers
    ]
    worst = max(seams, key=lambda entry: entry["seam"], default=None)
    rows.add("seams", "median", float(np.median([e["seam"] for e in seams])) if seams else math.nan, "noise units")
    rows.add("seams", "max", worst["seam"] if worst else math.nan, "noise units")
    rows.add("seams", "max_overlap", f"{worst['plus']}+{worst['minus']}" if worst else NA)


# ---- verdict ------------------------------------------------------------------

# A mosaic is broken when fewer of the pixels its images cover are finite in it
# than this, when matching left a seam of more than SEAM_LIMIT pixel-noise units
# between two images, or left the overlaps' median RMS worse than before.
MIN_FINITE_FRACTION = 0.99
SEAM_LIMIT = 2.0


def verdict(rows):
    """Add the ``verdict`` rows (``status``: ok or broken, ``reason``) from the rows so far."""
    value = {(row["section"], row["metric"]): row["value"] for row in rows.rows if not row["item"]}
    number = lambda key: _number(value.get(key, NA))
    reasons = []
    finite = number(("coverage", "finite_fraction"))
    if finite < MIN_FINITE_FRACTION:
        reasons.append(f"coverage collapsed: {finite:.3%} of the pixels the images cover are finite in mosaic.fits")
    seam = number(("seams", "max"))
    if seam > SEAM_LIMIT:
        where = value.get(("seams", "max_overlap"), NA)
        reasons.append(f"a seam of {seam:.3g} noise units between {where.replace('+', ' and ')} after matching")
    before, after = number(("overlap_rms", "rms_before_median")), number(("overlap_rms", "rms_after_median"))
    if after > before:
        reasons.append(f"matching made the overlaps worse: median RMS {after:.4g} after, {before:.4g} before")
    rows.add("verdict", "status", "broken" if reasons else "ok")
    rows.add("verdict", "reason", "; ".join(reasons))
    return reasons


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def finite_pixels(path):
    """The finite pixels of a mosaic (read in strips of rows).

    Parameters
    ----------
    path : str
        A FITS image (mosaic.fits).

    Returns
    -------
    int
        How many pixels are finite.
    """
    image = _ImageRows(path)
    step = max(1, STRIP_PIXELS // max(image.nx, 1))
    return sum(
        int(np.isfinite(image.rows(y, min(y + step, image.ny), as_float=False)).sum()) for y in range(0, image.ny, step)
    )


# ---- background corrections ---------------------------------------------------


def correction_footprints(paths, region):
    """Per corrected image: its place on the mosaic grid and the correction at its centre.

    Dicts with ``id``, ``x0``, ``y0``, ``nx``, ``ny`` (mosaic pixels, 0-based), ``a``, ``b``,
    ``c``, ``slope`` and ``centre_level``. mBackground subtracts a * (i - CRPIX1) +
    b * (j - CRPIX2) + c at 0-based pixel (i, j) of a projected image (CRPIX of that image),
    so the level at its centre is that plane at ((NAXIS1 - 1) / 2, (NAXIS2 - 1) / 2).
    """
    if not os.path.exists(paths.corrections):
        return []
    placed = {}
    for row in tables.read_ipac(paths.projected_table):
        ident = layout.image_id_of(row["fname"])
        crpix1, crpix2 = float(row["crpix1"]), float(row["crpix2"])
        placed[ident] = {
            "x0": _whole(region["crpix1"] - crpix1, ident, "CRPIX1"),
            "y0": _whole(region["crpix2"] - crpix2, ident, "CRPIX2"),
            "nx": int(row["naxis1"]),
            "ny": int(row["naxis2"]),
            "crpix1": crpix1,
            "crpix2": crpix2,
        }
    footprints = []
    for row in tables.read_tsv(paths.corrections):
        if row["id"] not in placed:
            continue
        where = placed[row["id"]]
        a, b, c = float(row["a"]), float(row["b"]), float(row["c"])
        centre = mbackground_plane(
            a, b, c, (where["nx"] - 1) / 2, (where["ny"] - 1) / 2, where["crpix1"], where["crpix2"]
        )
        footprints.append(
            {
                "id": row["id"],
                **{key: where[key] for key in ("x0", "y0", "nx", "ny")},
                "a": a,
                "b": b,
                "c": c,
                "slope": math.hypot(a, b),
                "centre_level": centre,
            }
        )
    return footprints


def _corrections(rows, paths, footprints):
    centres = {f["id"]: f["centre_level"] for f in footprints}
    corrections = tables.read_tsv(paths.corrections)
    a = np.array([float(row["a"]) for row in corrections])
    b = np.array([float(row["b"]) for row in corrections])
    c = np.array([float(row["c"]) for row in corrections])
    slope = np.hypot(a, b)
    stat = lambda function, values: function(values) if values.size else math.nan
    rows.add("corrections", "images", len(corrections), "images")
    rows.add("corrections", "zero", int(((a == 0) & (b == 0) & (c == 0)).sum()), "images")
    rows.add("corrections", "level_min", stat(np.min, c), "data units")
    rows.add("corrections", "level_median", stat(np.median, c), "data units")
    rows.add("corrections", "level_max", stat(np.max, c), "data units")
    rows.add("corrections", "level_std", stat(np.std, c), "data units")
    rows.add("corrections", "slope_median", stat(np.median, slope), "data units/pixel")
    rows.add("corrections", "slope_max", stat(np.max, slope), "data units/pixel")
    for row, level, magnitude in zip(corrections, c, slope, strict=True):
        rows.add("correction", "level", level, "data units", item=row["id"])
        rows.add("correction", "slope", magnitude, "data units/pixel", item=row["id"])
        rows.add("correction", "centre_level", centres.get(row["id"]), "data units", item=row["id"])


# ---- coverage and depth ---------------------------------------------------------


def depth_map(projected_dir, projected_table, region_path, cutouts=None, every=1, output=None):
    """How many projected images have valid data at each mosaic pixel, as mAdd's
    count mode (``coadd=2``) counts it. Returns (histogram, sampled):
    ``histogram[d]`` pixels have exactly d images (index 0 unused), ``sampled``
    the depth map's every ``every``-th row and column (NaN where no image).
    With ``output`` the whole map is also written there as mAdd writes it.

    Valid is what mAdd counts: a finite pixel whose area is > 0, placed on the
    mosaic grid by CRPIX. Counted in strips of mosaic rows, each image's rows
    read once, so memory stays bounded whatever the mosaic size. ``cutouts``
    ({path: _Cutout}) are reused from the overlap measurements when given.
    """
    region = _read_region(region_path)
    nx, ny = region["naxis1"], region["naxis2"]
    cutouts = {} if cutouts is None else cutouts
    placed = []
    for row in tables.read_ipac(projected_table):
        path = os.path.join(projected_dir, row["fname"])
        if path not in cutouts:
            cutouts[path] = _Cutout(path, region)
        placed.append(cutouts[path])
    placed.sort(key=lambda cutout: cutout.dy)
    histogram = np.zeros(1, dtype=np.int64)
    sampled = []
    step = max(1, STRIP_PIXELS // max(1, nx))
    with contextlib.ExitStack() as stack:
        stream = None
        if output:
            fits = _fits()
            temp = stack.enter_context(atomic.fits_pair(output, want_area=False))
            header = fits.Header([("SIMPLE", True), ("BITPIX", -64), ("NAXIS", 2), ("NAXIS1", nx), ("NAXIS2", ny)])
            for key, value, _ in _region_cards(region_path):
                if key not in header and value is not None:
                    header[key] = value
            stream = fits.StreamingHDU(temp, header)
            stack.callback(stream.close)
        first = 0  # placed[:first] end above the strip
        for y0 in range(0, ny, step):
            y1 = min(ny, y0 + step)
            count = np.zeros((y1 - y0, nx), dtype=np.int32)
            while first < len(placed) and placed[first].dy + placed[first].ny <= y0:
                first += 1
            for cutout in placed[first:]:
                if cutout.dy >= y1:
                    break
                top, bottom = max(y0, cutout.dy), min(y1, cutout.dy + cutout.ny)
                left, right = max(0, cutout.dx), min(nx, cutout.dx + cutout.nx)
                if top >= bottom or left >= right:
                    continue
                count[top - y0 : bottom - y0, left:right] += madd_valid(*cutout.read(left, right, top, bottom))
            counts = np.bincount(count.ravel())
            if counts.size > histogram.size:
                counts[: histogram.size] += histogram
                histogram = counts
            else:
                histogram[: counts.size] += counts
            sampled.append(_blank_zero(count[(-y0) % every :: every, ::every]))
            if stream is not None:
                stream.write(_blank_zero(count).astype(">f8"))
    histogram[0] = 0
    # Trim trailing zeros so that len(histogram) - 1 is the maximum depth.
    nonzero = np.flatnonzero(histogram)
    histogram = histogram[: nonzero[-1] + 1] if nonzero.size else histogram[:1]
    return histogram, np.concatenate(sampled, axis=0) if sampled else np.zeros((0, 0))


def _blank_zero(count):
    """Counts as mAdd writes them: NaN where no image has data."""
    return np.where(count > 0, count, np.nan)


def _region_cards(path):
    from ..sky.frames import read_header_file

    return read_header_file(path).cards


def _depth_rows(rows, histogram):
    covered = int(histogram.sum())
    rows.add("depth", "covered_pixels", covered, "pixels")
    if covered == 0:
        for metric in ("min", "median", "max"):
            rows.add("depth", metric, NA, "images")
        rows.add("depth", "fraction_ge_2", NA, "fraction")
        return
    depths = np.flatnonzero(histogram)
    cumulative = np.cumsum(histogram)

    def value_at(rank):  # the depth of the rank-th pixel (0-based) in sorted order
        return int(np.searchsorted(cumulative, rank, side="right"))

    median = (value_at((covered - 1) // 2) + value_at(covered // 2)) / 2
    rows.add("depth", "min", int(depths[0]), "images")
    rows.add("depth", "median", median, "images")
    rows.add("depth", "max", int(depths[-1]), "images")
    rows.add("depth", "fraction_ge_2", float(histogram[2:].sum()) / covered, "fraction")
    for depth in depths:
        rows.add("depth_histogram", "pixels", int(histogram[depth]), "pixels", item=str(int(depth)))


def depth_preview(sampled, png, max_depth):
    """The sampled depth map as a PNG (``depthmap``: a fixed colour per depth, a legend underneath)."""
    from . import depthmap

    return depthmap.write_png(sampled, png, max_depth)


def read_report(path):
    """{(section, item, metric): value} of a quality table (for tests and tools)."""
    return {(row["section"], row["item"], row["metric"]): row["value"] for row in tables.read_tsv(path)}
