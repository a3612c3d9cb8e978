"""Find, validate and select a mosaic's input images (the image table).

Runs once per mosaic. Every candidate file is opened and checked here, so
that a bad file is reported by name and reason in ``skipped.tsv`` instead of
failing a projection job later: Montage's own mImgtbl accepts truncated files
and files without a usable WCS.
"""

import hashlib
import os
import re
import warnings

import numpy as np

from .. import UserError
from ..files import tables
from ..files.layout import FILES
from ..sky.frames import short_error
from .fitsname import fits_suffix

IMAGE_COLUMNS = [
    "id",
    "path",
    "hdu",
    "method",
    "naxis1",
    "naxis2",
    "frame",
    "projection",
    "link",
    "scale",
    "content",
]
SKIPPED_COLUMNS = ["path", "kind", "reason"]
# Kinds of skipped files that are something wrong with a file (the others are not images,
# or lie outside the region): reported first, and counted apart in the run summary.
BAD_KINDS = ("bad-input", "duplicate")


def image_id(relative_path):
    """A stable, shell-safe identifier for an input file.

    Readable (derived from the file name) and unique (a hash of the path
    relative to the source folder), and independent of the other files, so
    adding an image never renames the existing ones and their projections
    stay valid.
    """
    name = os.path.basename(relative_path)
    name = name[: len(name) - len(fits_suffix(name))]
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_-")[:40] or "image"
    digest = hashlib.sha1(relative_path.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{stem}-{digest[:8]}"


def scan_folder(folder, recursive):
    """``(fits_named, others)``: the files in ``folder``, sorted, as (path, path relative to folder).

    Hidden files and folders (``.name``) are neither: they are a system's or
    a tool's, not the user's images.
    """
    if not os.path.isdir(folder):
        raise UserError(f"source folder {folder!r} does not exist or is not a folder")
    fits_named, others = [], []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(root, name)
            (fits_named if fits_suffix(name) else others).append((path, os.path.relpath(path, folder)))
        if not recursive:
            break
    return fits_named, others


class BadImage(Exception):
    """A candidate file that cannot be used; the message is the reason."""


def inspect_image(path):
    """Check one file and return ``(hdu_index, header)`` of its usable image.

    Uses the first image HDU with two or more axes and a celestial WCS, reads
    its data to prove the file is complete, and rejects all-NaN images.
    Raises ``BadImage`` with a human-readable reason otherwise.
    """
    index, header, _, _ = _inspect(path)
    return index, header


def _inspect(path):
    """inspect_image, also returning the image's data and pixel scale (degrees, second axis)."""
    from astropy.io import fits
    from astropy.wcs import WCS

    if os.path.getsize(path) == 0:
        raise BadImage("empty file (0 bytes)")
    problem = not_fits_problem(path)
    if problem:
        raise BadImage(problem)
    reasons = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            hdul = fits.open(path, memmap=False, lazy_load_hdus=True)
        except Exception as error:  # astropy raises many kinds for garbage
            if "SIMPLE card" in str(error):  # its advice (ignore_missing_simple) is not the user's to take
                raise BadImage("not a FITS file (no valid SIMPLE card at its start)") from None
            raise BadImage(f"not a readable FITS file ({short_error(error)})") from None
        with hdul:
            try:
                for index, hdu in enumerate(hdul):
                    if not hdu.is_image or hdu.header.get("NAXIS", 0) < 2:
                        continue
                    header = hdu.header
                    try:
                        wcs = WCS(header, naxis=2)
                    except Exception as error:
                        reasons.append(f"HDU {index}: invalid WCS ({short_error(error)})")
                        continue
                    if not wcs.has_celestial:
                        reasons.append(f"HDU {index}: no celestial WCS")
                        continue
                    problem, scale = _wcs_problem(wcs, header)
                    if problem:
                        reasons.append(f"HDU {index}: {problem}")
                        continue
                    return index, header.copy(), _check_data(hdu), scale
            except BadImage:
                raise
            except Exception as error:
                raise BadImage(f"unreadable or truncated data ({short_error(error)})") from None
    if reasons:
        raise BadImage("; ".join(reasons))
    raise BadImage("no image HDU with two or more axes")


FITS_START = b"SIMPLE  ="
# gzip, bzip2 (astropy opens both) and tile-compressed files start differently
COMPRESSED_STARTS = (b"\x1f\x8b", b"BZh")


def not_fits_problem(path):
    """Why ``path`` is not a FITS file at all, from its first bytes, or None.

    Names what the file starts with (an HTML error page saved under a FITS
    name is the common case), instead of astropy's advice to open it anyway.
    """
    with open(path, "rb") as handle:
        start = handle.read(len(FITS_START))
    if start.startswith(FITS_START) or start.startswith(COMPRESSED_STARTS):
        return None
    shown = start.decode("ascii", "replace")
    if not shown.isprintable():
        shown = start.hex(" ")
    return f"not a FITS file (starts with {shown!r}, not 'SIMPLE  =')"


def _pixel_scale(header):
    """Pixel scale (degrees) along the second axis of an image's WCS."""
    from astropy.wcs import WCS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(WCS(header, naxis=2).celestial.proj_plane_pixel_scales()[1].to_value("deg"))


def _wcs_problem(wcs, header):
    """(why a celestial WCS cannot place the image on the sky, or None; its pixel
    scale along the second axis in degrees, what _pixel_scale gives)."""
    try:
        # a two-axis WCS with a celestial pair is its own celestial part (.celestial copies)
        celestial = wcs if wcs.naxis == 2 else wcs.celestial
        scales = celestial.proj_plane_pixel_scales()
        values = [float(v.to_value("deg")) for v in scales]
        centre = celestial.all_pix2world([[header["NAXIS1"] / 2, header["NAXIS2"] / 2]], 0)[0]
    except Exception as error:
        return f"WCS cannot map pixels to the sky ({short_error(error)})", None
    if not all(np.isfinite(values)) or min(values) <= 0:
        return "WCS has a zero or undefined pixel scale", None
    if not np.all(np.isfinite(centre)):
        return "WCS does not map the image centre to the sky", None
    return None, values[1]


def _check_data(hdu):
    """The image's pixels, and whether any is infinite (BadImage if none is finite)."""
    data = hdu.data
    if data is None:
        raise BadImage("image HDU has no data")
    expected = hdu.header.get("NAXIS1", 0) * hdu.header.get("NAXIS2", 0)
    if data.size < expected:
        raise BadImage(f"truncated data ({data.size} of {expected} pixels)")
    finite = np.isfinite(data)
    if not finite.any():
        raise BadImage("all pixels are NaN or infinite")
    # most images are finite throughout: one pass then, a second only when some pixel is not
    return data, not finite.all() and bool(np.isinf(data).any())


def frame_and_projection(header):
    """(frame, projection code) of a header's first celestial axis ('TAN' for 'RA---TAN-SIP')."""
    from ..sky.frames import FRAME_OF_AXIS, projection_code

    axis = str(header.get("CTYPE1", "")).upper().partition("-")[0]
    return FRAME_OF_AXIS.get(axis.strip(), "other"), projection_code(header)


def projection_method(requested, image_header, region_header):
    """The projector for one image, deciding as Montage's mProjExec does, and faster across frames.

    ``auto``: mProjectPP when both sides are plane projections in the same
    frame; mProjectPP through distorted-TAN headers when the frames match but
    a side is not a plane projection. When the frames differ by a rotation
    (equatorial J2000/ICRS, Galactic, ecliptic J2000) and both sides are
    plane projections (TAN with SIP too), ``mProjectPP-rotated``: mProjectPP
    with the input's pixel grid described in the mosaic's frame (see
    ``frames``); otherwise mProject (exact): other frame pairs (B1950/FK4,
    other equinoxes, unknown frames), and other projections, whose
    distorted-TAN approximations mTANHdr (MontagePy 2.3.0) does not deliver
    within tolerance, so that the job would end in mProject anyway after
    ~0.4 s of mTANHdr. A requested ``mProjectPP`` takes the rotated path
    whenever the frames differ by a rotation, since mProjectPP cannot change
    frames otherwise.
    """
    if requested not in ("auto", "mProjectPP"):
        return requested
    from ..sky import frames
    from ..sky.frames import PLANE_PROJECTIONS

    image_frame, image_projection = frame_and_projection(image_header)
    region_frame, region_projection = frame_and_projection(region_header)
    if image_frame == region_frame and frames.montage_system(image_header) == frames.montage_system(region_header):
        if requested == "mProjectPP":
            return requested
        if image_projection in PLANE_PROJECTIONS and region_projection in PLANE_PROJECTIONS:
            return "mProjectPP"
        return "mProjectPP-tan"
    if frames.rotation_frame(image_header) and frames.rotation_frame(region_header):
        planes = (frames.projection_code(h) in PLANE_PROJECTIONS for h in (image_header, region_header))
        if requested == "mProjectPP" or all(planes):
            return "mProjectPP-rotated"
    return "mProject" if requested == "auto" else requested


def overlap_area(image_header, region_header, samples=32):
    """Area (in region pixels) of the image footprint inside the region.

    The image border is sampled, mapped through the sky into region pixel
    coordinates and clipped against the region rectangle. Points that do not
    map (the far side of a projection) make the answer conservative: +inf.
    """
    from astropy.wcs import WCS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image_wcs = WCS(image_header, naxis=2)
        region_wcs = WCS(region_header, naxis=2)
        nx, ny = image_header["NAXIS1"], image_header["NAXIS2"]
        border = _rectangle_border(nx, ny, samples)
        world = image_wcs.all_pix2world(border, 0)
        if frame_and_projection(image_header)[0] != frame_and_projection(region_header)[0]:
            world = _convert_frame(world, image_wcs, region_wcs)
        pixels = region_wcs.all_world2pix(world, 0)
    if not np.all(np.isfinite(pixels)):
        return float("inf")
    rx, ry = region_header["NAXIS1"], region_header["NAXIS2"]
    clipped = _clip_polygon(pixels, -0.5, -0.5, rx - 0.5, ry - 0.5)
    return _polygon_area(clipped)


def _rectangle_border(nx, ny, samples):
    t = np.linspace(0.0, 1.0, samples, endpoint=False)
    x0, x1, y0, y1 = -0.5, nx - 0.5, -0.5, ny - 0.5
    bottom = np.column_stack([x0 + t * (x1 - x0), np.full_like(t, y0)])
    right = np.column_stack([np.full_like(t, x1), y0 + t * (y1 - y0)])
    top = np.column_stack([x1 - t * (x1 - x0), np.full_like(t, y1)])
    left = np.column_stack([np.full_like(t, x0), y1 - t * (y1 - y0)])
    return np.vstack([bottom, right, top, left])


def _convert_frame(world, source_wcs, target_wcs):
    from astropy.coordinates import SkyCoord
    from astropy.wcs.utils import wcs_to_celestial_frame

    coords = SkyCoord(world[:, 0], world[:, 1], unit="deg", frame=wcs_to_celestial_frame(source_wcs))
    converted = coords.transform_to(wcs_to_celestial_frame(target_wcs))
    return np.column_stack([converted.spherical.lon.deg, converted.spherical.lat.deg])


def _clip_polygon(points, xmin, ymin, xmax, ymax):
    """Sutherland-Hodgman clipping of a polygon against an axis-aligned box."""
    polygon = [tuple(p) for p in points]
    edges = [
        (lambda p: p[0] >= xmin, lambda p, q: _cross_x(p, q, xmin)),
        (lambda p: p[0] <= xmax, lambda p, q: _cross_x(p, q, xmax)),
        (lambda p: p[1] >= ymin, lambda p, q: _cross_y(p, q, ymin)),
        (lambda p: p[1] <= ymax, lambda p, q: _cross_y(p, q, ymax)),
    ]
    for inside, intersect in edges:
        if not polygon:
            break
        clipped = []
        previous = polygon[-1]
        for current in polygon:
            if inside(current):
                if not inside(previous):
                    clipped.append(intersect(previous, current))
                clipped.append(current)
            elif inside(previous):
                clipped.append(intersect(previous, current))
            previous = current
        polygon = clipped
    return polygon


def _cross_x(p, q, x):
    t = (x - p[0]) / (q[0] - p[0])
    return (x, p[1] + t * (q[1] - p[1]))


def _cross_y(p, q, y):
    t = (y - p[1]) / (q[1] - p[1])
    return (p[0] + t * (q[0] - p[0]), y)


def _polygon_area(polygon):
    if len(polygon) < 3:
        return 0.0
    xy = np.asarray(polygon)
    x, y = xy[:, 0], xy[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


# An image must cover at least this much of the region (in output pixels) to
# be projected; smaller slivers are listed as outside the region.
MIN_OVERLAP_PIXELS = 1.0


def build_image_table(
    folder,
    out_dir,
    *,
    region_header_path,
    method,
    recursive,
    auto_frame,
    files=None,
    workers=1,
):
    """Validate a folder of images and write the mosaic's image table.

    Writes ``images.tsv`` (one row per usable image), ``skipped.tsv`` (every
    file not used, with the reason), ``inputs/<id>.fits`` (ASCII-named links
    to the raw files, which Montage reads; the raw files are never written)
    and ``raw.tbl`` (Montage's image table of the links). Returns the rows.
    ``files`` (paths) replaces the folder scan, e.g. for downloaded images.
    ``workers`` processes read the images (reading and checking every pixel
    is most of the time, and nothing else runs at this point of a run).
    """
    region_header = None
    if region_header_path:
        from ..sky.region import read_header_template

        region_header = read_header_template(region_header_path)
        method_frame = region_header
    else:
        # An automatic region is made later by mMakeHdr, always as TAN.
        from ..sky.frames import AXES, ctype

        method_frame = {"CTYPE1": ctype(AXES[auto_frame][0], "TAN")}
    links_dir = os.path.join(out_dir, FILES["links"])
    os.makedirs(links_dir, exist_ok=True)
    for stale in os.listdir(links_dir):
        os.remove(os.path.join(links_dir, stale))

    skipped, seen_ids = [], {}
    if files is not None:
        candidates = [(path, os.path.basename(path)) for path in files]
    else:
        candidates, others = scan_folder(folder, recursive)
        for path, relative in others:
            suffix = os.path.splitext(relative)[1]
            reason = f"not named as a FITS file ({suffix or 'no suffix'})"
            skipped.append({"path": path, "kind": "ignored", "reason": reason})
    idents = []
    for path, relative in candidates:
        ident = image_id(relative)
        if ident in seen_ids:  # same sanitised name and hash: practically impossible
            ident = image_id(relative + "#" + str(len(seen_ids)))
        seen_ids[ident] = path
        idents.append(ident)
    linked = _link_readable(candidates, idents, links_dir)
    # Montage reads their headers in another process while this one checks
    # every pixel (the table of the images used is then a filter of it).
    early_table = _EarlyTable(links_dir, sorted(linked), os.path.join(out_dir, FILES["raw_table"]))
    try:
        inspected = inspect_images_cached(
            [path for path, relative in candidates if not _is_area_image(relative)],
            os.path.join(out_dir, FILES["inspection_cache"]),
            workers,
        )
        used = _select(
            candidates, idents, inspected, skipped, region_header, method, method_frame, links_dir, early_table
        )
        used.sort(key=lambda row: row["id"])
        early_path = early_table.path()
        in_use = {row["link"] for row in used}
        for link in linked.values():
            if link not in in_use:
                os.remove(link)
        tables.write_tsv(os.path.join(out_dir, FILES["skipped"]), SKIPPED_COLUMNS, skipped)
        if not used:
            reasons = "; ".join(f"{os.path.basename(s['path'])}: {s['reason']}" for s in skipped[:5])
            raise UserError(
                f"no usable images in {folder or 'the downloaded images'!r}"
                + (f" ({len(skipped)} skipped: {reasons})" if skipped else " (no FITS files found)")
            )
        if region_header is not None:
            warn_if_disk_short(used, region_header, out_dir)
        write_raw_table(used, links_dir, os.path.join(out_dir, FILES["raw_table"]), workers, early_path)
        tables.write_tsv(os.path.join(out_dir, FILES["images"]), IMAGE_COLUMNS, used)
    finally:
        early_table.close()
    return used, skipped


def _select(candidates, idents, inspected, skipped, region_header, method, method_frame, links_dir, early_table):
    """The image-table rows of the usable candidates, in the candidates' order;
    each file not used is added to ``skipped`` with its reason. A used image's
    link (made by ``_link_readable``) becomes a blanked copy when it has
    infinite pixels."""
    used, fingerprints = [], {}
    for (path, relative), ident in zip(candidates, idents, strict=True):
        if _is_area_image(relative):
            skipped.append({"path": path, "kind": "ignored", "reason": "Montage area image"})
            continue
        result = inspected[path]
        if isinstance(result, BadImage):
            skipped.append({"path": path, "kind": "bad-input", "reason": str(result)})
            continue
        if isinstance(result, OSError):
            skipped.append({"path": path, "kind": "bad-input", "reason": f"cannot read ({result.strerror})"})
            continue
        hdu, header, fingerprint, has_infinities, content, scale = result
        if region_header is not None and overlap_area(header, region_header) < MIN_OVERLAP_PIXELS:
            skipped.append({"path": path, "kind": "outside-region", "reason": "does not touch the mosaic region"})
            continue
        if fingerprint in fingerprints:
            reason = f"duplicate of {fingerprints[fingerprint]} (same pixels and WCS)"
            skipped.append({"path": path, "kind": "duplicate", "reason": reason})
            continue
        fingerprints[fingerprint] = path
        frame, projection = frame_and_projection(header)
        link = os.path.join(links_dir, ident + ".fits")
        if has_infinities:
            # Montage treats only NaN as blank; an infinite pixel would spread into
            # the mosaic. Use a copy with them blanked (the raw file is not touched:
            # the link to it goes first, so nothing is written through it).
            os.remove(link)
            _write_blanked_copy(path, hdu, link)
            hdu = 0
            early_table.discard()  # its row of this file is of the raw HDU
        elif not os.path.lexists(link):
            os.symlink(os.path.abspath(path), link)
        used.append(
            {
                "id": ident,
                "path": path,
                "hdu": hdu,
                "method": projection_method(method, header, method_frame),
                "naxis1": header["NAXIS1"],
                "naxis2": header["NAXIS2"],
                "frame": frame,
                "projection": projection,
                "link": link,
                "scale": scale,
                "content": content,
            }
        )
    return used


def _is_area_image(name):
    return name.lower().endswith(("_area.fits", "_area.fit", "_area.fits.gz"))


def _inspect_or_problem(path):
    try:
        return _inspect_for_table(path)
    except (BadImage, OSError) as problem:
        return problem


def inspect_images(paths, workers=1):
    """{path: _inspect_for_table(path), or the BadImage/OSError it raised}.

    With ``workers`` > 1 the images are read by that many forked processes.
    """
    workers = min(workers, len(paths) // 8)  # a few images are not worth a fork
    if workers <= 1:
        return {path: _inspect_or_problem(path) for path in paths}
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # Imported once here, before the fork, not once in each worker and again
    # here to read their results.
    from astropy.io import fits  # noqa: F401
    from astropy.wcs import WCS  # noqa: F401

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return dict(zip(paths, pool.map(_inspect_or_problem, paths, chunksize=4), strict=True))


def _inspect_for_table(path):
    """inspect_image, plus a fingerprint of the pixels and WCS (to find the same
    image under two names), whether it holds infinite pixels, and a digest of
    the whole file (what its projection depends on), and its pixel scale (degrees;
    from the WCS the check made, not a second one made serially later)."""
    hdu, header, (data, has_infinities), scale = _inspect(path)
    digest = hashlib.sha1(np.ascontiguousarray(data).view(np.uint8))  # the pixels' bytes, not copied
    for key in ("CTYPE1", "CTYPE2", "CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2", "CDELT1", "CDELT2", "CROTA2"):
        digest.update(repr(header.get(key)).encode())
    return hdu, header, digest.hexdigest(), has_infinities, _file_digest(path), scale


def _file_digest(path):
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inspect_images_cached(paths, cache_path, workers=1):
    """``inspect_images``, reusing the results of files whose stat facts are unchanged.

    The cache holds results only (never user data) and is rewritten
    atomically; an unreadable cache is ignored. Read errors are not cached.
    """
    import json

    from ..files import atomic
    from . import manifest

    try:
        with open(cache_path, encoding="utf-8") as handle:
            cache = json.load(handle)
    except (OSError, ValueError):
        cache = {}
    keys, results, missing = {}, {}, []
    for path in paths:
        try:
            keys[path] = manifest.stat_key(path)
        except OSError as problem:
            results[path] = problem
            continue
        entry = cache.get(path)
        if entry is not None and entry.get("key") == keys[path]:
            results[path] = _from_cache(entry)
        else:
            missing.append(path)
    results.update(inspect_images(missing, workers))
    fresh = {}
    for path in paths:
        result = results[path]
        if not isinstance(result, OSError):
            fresh[path] = {"key": keys[path], **_to_cache(result)}
    atomic.write_text(cache_path, json.dumps(fresh, sort_keys=True))
    return {path: results[path] for path in paths}


def _to_cache(result):
    if isinstance(result, BadImage):
        return {"bad": str(result)}
    hdu, header, fingerprint, has_infinities, content, scale = result
    return {
        "scale": scale,
        "hdu": hdu,
        "header": header.tostring(),
        "fingerprint": fingerprint,
        "infinite": has_infinities,
        "content": content,
    }


def _from_cache(entry):
    from astropy.io import fits

    if "bad" in entry:
        return BadImage(entry["bad"])
    header = fits.Header.fromstring(entry["header"])
    # a cache written before the scale was kept: compute it
    scale = entry["scale"] if "scale" in entry else _pixel_scale(header)
    return entry["hdu"], header, entry["fingerprint"], entry["infinite"], entry["content"], scale


def _write_blanked_copy(path, hdu, destination):
    from astropy.io import fits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(path, memmap=False) as hdul:
            header = hdul[hdu].header.copy()
            data = hdul[hdu].data.astype(np.float32 if hdul[hdu].data.dtype.itemsize <= 4 else np.float64)
    data[np.isinf(data)] = np.nan
    for key in ("XTENSION", "PCOUNT", "GCOUNT", "ZIMAGE", "ZBITPIX", "ZNAXIS", "ZNAXIS1", "ZNAXIS2"):
        header.remove(key, ignore_missing=True)
    fits.PrimaryHDU(data=data, header=header).writeto(destination, overwrite=True)


def estimate_disk_bytes(images, region_header):
    """Peak disk use of one mosaic, in bytes.

    Montage writes projected images (and their area images) as 64-bit floats
    on the mosaic's grid: an image covers about its own pixel count times the
    squared ratio of the pixel scales. At the coadd, corrected copies of all
    of them exist too, beside the mosaic and its area image.
    """
    scale_out = abs(float(region_header.get("CDELT2", region_header.get("CD2_2", 0.0)))) or 1.0
    projected = 0.0
    for row in images:
        ratio = 1.0
        if row.get("scale"):
            ratio = (float(row["scale"]) / scale_out) ** 2
        projected += int(row["naxis1"]) * int(row["naxis2"]) * ratio * 8 * 2
    mosaic = int(region_header["NAXIS1"]) * int(region_header["NAXIS2"]) * 8 * 2
    return int(2 * projected + mosaic)


def warn_if_disk_short(images, region_header, out_dir):
    """Warn (log and stderr) before any projection when the disk looks too small."""
    import logging
    import shutil

    need = estimate_disk_bytes(images, region_header)
    free = shutil.disk_usage(out_dir).free
    if need > free:
        logging.getLogger("mosaicflow").warning(
            "warning: %s needs about %.1f GB of disk at its peak (projected and corrected images and the "
            "mosaic), but only %.1f GB are free there. Free space, or set "
            "keep_intermediates.projected: false (with projection.jobs: image).",
            out_dir,
            need / 1e9,
            free / 1e9,
        )
    return need, free


def _link_readable(candidates, idents, links_dir):
    """{name: link}: an ASCII-named link (``<id>.fits``) to each candidate that
    could be an image (a regular, non-empty file, not an area image), for Montage."""
    import stat

    linked = {}
    for (path, relative), ident in zip(candidates, idents, strict=True):
        try:
            facts = os.stat(path)
        except OSError:
            continue
        if _is_area_image(relative) or not stat.S_ISREG(facts.st_mode) or facts.st_size == 0:
            continue
        link = os.path.join(links_dir, ident + ".fits")
        os.symlink(os.path.abspath(path), link)
        linked[ident + ".fits"] = link
    return linked


class _EarlyTable:
    """mImgtbl of the links ``names``, started now in another interpreter
    (``subprocess_call.Call``). ``path()`` waits for it and gives its table, or None when
    it failed or was discarded (``write_raw_table`` then reads the headers
    itself); ``close()`` waits for it and removes its files."""

    def __init__(self, links_dir, names, near):
        from ..files import atomic
        from ..montage.subprocess_call import Call

        self.list_path = atomic.temp_path_for(near, suffix=".list")
        self.output = atomic.temp_path_for(near, suffix=".early")
        self.call, self.wanted = None, bool(names)
        if names:
            tables.write_ipac(self.list_path, ["fname"], [{"fname": name} for name in names])
            arguments = (links_dir, self.list_path, self.output, RAW_TABLE_OPTIONS)
            self.call = Call("mosaicflow.montage.per_mosaic", "image_table_part", *arguments, near=near)

    def discard(self):
        self.wanted = False

    def _wait(self):
        from .. import StepError

        if self.call is not None:
            call, self.call = self.call, None
            try:
                call.result()
            except StepError:
                self.wanted = False

    def path(self):
        self._wait()
        return self.output if self.wanted else None

    def close(self):
        from ..files import atomic

        self._wait()
        atomic.discard(self.list_path, self.output)


# haveCubes=False: with cube columns mImgtbl prints uninitialised bytes for 2-D images.
RAW_TABLE_OPTIONS = {"showCorners": True, "haveCubes": False}


def write_raw_table(rows, links_dir, table_path, workers=1, early=None):
    """Montage's image table (mImgtbl) of the chosen HDU of each image, read by
    ``workers`` processes, rows numbered from 0.

    ``early``: an mImgtbl table of these links and maybe more (``_EarlyTable``),
    used instead when it has every image: the same bytes (tested).
    """
    from ..files import atomic
    from ..montage.per_mosaic import image_table

    temp = atomic.temp_path_for(table_path)
    wanted = {(os.path.basename(r["link"]), int(r["hdu"])) for r in rows}
    try:
        if early is None or not _keep_rows(early, wanted, temp):
            names = [os.path.basename(row["link"]) for row in rows]
            image_table(links_dir, names, temp, workers, **RAW_TABLE_OPTIONS)
            _keep_rows(temp, wanted, temp)
        atomic.write_text(table_path, tables.concatenate_ipac([temp], renumber="cntr"))
    finally:
        atomic.discard(temp)


def _keep_rows(source, wanted, target):
    """Copy the rows of the IPAC image table ``source`` whose (fname, hdu) is in
    ``wanted`` to ``target``; whether it had all of them."""
    found = set()

    def keep(row):
        key = (row["fname"], int(row["hdu"]))
        if key in wanted:
            found.add(key)
            return True
        return False

    tables.filter_ipac(source, target, keep)
    return found == wanted
