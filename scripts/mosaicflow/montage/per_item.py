"""Per-image and per-overlap Montage steps.

These run once per image or per overlap, hundreds of times a run, so this
module imports only the standard library and MontagePy (about 15 ms). Each
function makes the same MontagePy calls that Montage's own drivers
(mProjExec, mDiffFitExec, mBgExec) make for one item, so the workflow's
mosaic equals the single-process chain's.
"""

import contextlib
import hashlib
import os
import sys
import time

from .. import StepError
from ..files import atomic, layout, tables
from ..sky import frames


def load_montage():
    # Imported on first use so that ``--help`` and table-only steps stay instant.
    import MontagePy.main as montage

    return montage


def check_status(result, what):
    """``result`` (a MontagePy return dict) if its status is 0, else a StepError naming ``what``."""
    if str(result.get("status")) != "0":
        message = result.get("msg", b"")
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        raise StepError(f"{what}: {message or 'failed without a message'}")
    return result


# mProjExec accepts a distorted-TAN approximation only if it is this good (pixels).
TAN_APPROXIMATION_MAX_ERROR = 0.1


FAILED_SUFFIX = ".failed"
RECOVERED_SUFFIX = ".recovered"
# The first line of a projection's outcome record: its key's digest, or one of these.
FAILED, RECOVERED = "failed", "recovered"
# Where one job per image records the outcome (layout.FILES["projected_key"]).
KEY_SUFFIX = ".key"


def failure_note(output_image):
    """Where a batch job's projection that failed for good says why (next to it, in the job's folder)."""
    return output_image + FAILED_SUFFIX


def project_or_skip(raw_image, hdu, header, output_image, method, on_error, last_attempt=True, key=None, token=""):
    """``project``, with the on_image_error policy applied on the last attempt.

    Earlier attempts fail (so Snakemake retries the job). On the last one,
    with ``skip``, the image is recorded as failed, with the reason and a
    token unique to this failure, where Snakemake sees it: with ``key``
    ((path, digest), one job per image) in the key file, a declared output,
    beside 1 x 1 blank placeholder images (the job's other outputs), which
    the projected table leaves out; without (a batch job) in a note in the
    job's folder, and no projected files. The token is a parameter of the
    projection job (see ``retry_tokens``), so the next run tries the image
    again. ``token``: the image's last failure token, as the job was planned
    (Snakemake removed the outputs that held it): an image that projects now
    keeps it as ``recovered``, so its job's parameter stays the same and the
    run after does not retry it yet again. Returns the reason, or None.
    """
    if key is not None:
        atomic.discard(key[0])
    try:
        project(raw_image, hdu, header, output_image, method)
    except StepError as problem:
        if not last_attempt:
            raise
        reason = str(problem).splitlines()[0] if str(problem) else "projection failed"
        # A new token for every failure, also when the run stops on it
        # (on_image_error: fail): the next run plans this image again.
        record = f"{FAILED}\n{reason}\n{time.time_ns()}.{os.uname().nodename}.{os.getpid()}\n"
        if key is None:
            atomic.discard(output_image, atomic.area_name(output_image))
            atomic.write_text(failure_note(output_image), record)
        else:
            _write_placeholder(output_image)
            atomic.write_text(key[0], record)
        if on_error != "skip":
            raise
        return reason
    recovered = f"{RECOVERED}\n{token}\n" if token else ""
    if key is None:
        if recovered:
            atomic.write_text(output_image + RECOVERED_SUFFIX, recovered)
    else:
        atomic.write_text(key[0], f"{key[1]}\n{recovered}")
    return None


def read_outcome(path):
    """(state, reason, token) of an outcome record (a key, or a batch job's note):
    state ``ok``, ``failed`` or ``recovered``; None if there is none."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    if not lines:
        return None
    if lines[0] == FAILED:
        return FAILED, lines[1] if len(lines) > 1 else "", lines[2] if len(lines) > 2 else ""
    if lines[0] == RECOVERED:
        return RECOVERED, "", lines[1] if len(lines) > 1 else ""
    if len(lines) > 2 and lines[1] == RECOVERED:
        return RECOVERED, "", lines[2]
    return "ok", "", ""


def projection_failure(output_image):
    """Why the projection ``output_image`` failed for good (its batch note or its
    key says so), or None."""
    for record in (failure_note(output_image), output_image + KEY_SUFFIX):
        outcome = read_outcome(record)
        if outcome and outcome[0] == FAILED:
            return outcome[1]
    return None


def header_digest(header):
    """A digest of the region header file's bytes (what every projection depends on)."""
    with open(header, "rb") as handle:
        return hashlib.sha1(handle.read()).hexdigest()


def projection_key(hdu, method, content, header):
    """What a projection is made of, as one digest: the raw file's content
    digest, its HDU, the method, and the region header's ``header_digest``."""
    return hashlib.sha1(f"{header}\n{hdu}\n{method}\n{content}\n".encode()).hexdigest()


# MontagePy's mProjectPP keeps ~0.3 MB per call: a batch job projects this
# many images per interpreter, so its memory stays bounded whatever the field.
PROJECTIONS_PER_PROCESS = 400


def project_batch(
    images, header, batch_dir, on_error, last_attempt=True, tokens=None, per_process=PROJECTIONS_PER_PROCESS
):
    """Project the images of one batch job (``projection.jobs: batch``) into ``batch_dir``.

    ``images``: image-table rows (``id``, ``link``, ``hdu``, ``method``).
    Every image is tried; then, if any failed and this is not the last
    attempt (or ``on_error`` is ``fail``), a StepError names them all
    (Snakemake retries the job). ``tokens``: {image id: token of its last
    failed projection} as the job was planned (Snakemake empties the folder
    first): an image that projects now keeps its token in a recovered note
    (see ``retry_tokens``), so the next run does not retry it again. Returns
    rows ``id``, ``status`` (``ok`` or ``failed``). More than ``per_process``
    images are projected in parts, each in a fresh interpreter.
    """
    tokens = tokens or {}
    # Projected into a temporary folder renamed at the end: a killed job leaves
    # no batch folder (Snakemake did not rerun an incomplete one planned after
    # a checkpoint: docs/upstream.md), only debris that the next run removes.
    with atomic.folder_output(batch_dir) as temp:
        if len(images) <= per_process:
            rows, errors = project_images(images, header, temp, on_error, last_attempt, tokens)
        else:
            from .subprocess_call import Call

            rows, errors = [], []
            for start in range(0, len(images), per_process):
                part = images[start : start + per_process]
                arguments = (part, header, temp, on_error, last_attempt, tokens)
                near = os.path.join(temp, f"{part[0]['id']}.fits")
                part_rows, part_errors = Call(
                    "mosaicflow.montage.per_item", "project_images", *arguments, near=near
                ).result()
                rows += part_rows
                errors += part_errors
        if errors:
            raise StepError(f"{len(errors)} of {len(images)} projections failed: " + "; ".join(errors))
    return rows


def project_images(images, header, batch_dir, on_error, last_attempt, tokens):
    """The work of ``project_batch`` in this process: (rows, error messages)."""
    rows, errors = [], []
    for image in images:
        output = os.path.join(batch_dir, f"{image['id']}.fits")
        try:
            reason = project_or_skip(
                image["link"],
                int(image["hdu"]),
                header,
                output,
                image["method"],
                on_error,
                last_attempt,
                token=tokens.get(image["id"], ""),
            )
        except StepError as problem:
            errors.append(f"{image['id']}: {problem}")
            continue
        rows.append({"id": image["id"], "status": "failed" if reason else "ok"})
    return rows, errors


def retry_tokens(projected_dir):
    """{image id: token of its last failed projection}, from the outcome records
    in ``projected_dir``: each image's key (one job per image) and the notes in
    the batch jobs' folders.

    A projection job takes its image's token as a parameter: a new failure
    changes it, so the next run retries the image (a transient error, e.g.
    an NFS glitch, must not become a permanent skip); a recovered image keeps
    its last token, so it is not retried again.
    """
    tokens = {}
    try:
        names = os.listdir(projected_dir)
    except FileNotFoundError:
        return tokens
    records = [(projected_dir, name, ".fits" + KEY_SUFFIX) for name in names]
    for name in names:
        if name.startswith(layout.BATCH_PREFIX):
            try:
                notes = os.listdir(os.path.join(projected_dir, name))
            except (FileNotFoundError, NotADirectoryError):
                continue
            folder = os.path.join(projected_dir, name)
            records += [
                (folder, note, ".fits" + suffix) for note in notes for suffix in (FAILED_SUFFIX, RECOVERED_SUFFIX)
            ]
    for folder, name, suffix in records:
        if name.endswith(suffix) and not name.startswith("."):
            outcome = read_outcome(os.path.join(folder, name))
            if outcome and outcome[0] != "ok":
                tokens[name[: -len(suffix)]] = outcome[2]
    return tokens


def _write_placeholder(output_image):
    cards = [("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 2), ("NAXIS1", 1), ("NAXIS2", 1), ("MOSFAIL", True)]
    header = frames.fits_header_bytes([frames.format_card(key, value) for key, value in cards])
    blank = b"\x7f\xc0\x00\x00".ljust(frames.FITS_BLOCK, b"\x00")  # one big-endian float32 NaN
    for path in (output_image, atomic.area_name(output_image)):
        temp = atomic.temp_path_for(path)
        with open(temp, "wb") as handle:
            handle.write(header + blank)
        atomic.commit(temp, path)


def project(raw_image, hdu, header, output_image, method):
    """Reproject one image onto the mosaic header, writing image and area.

    ``method`` is one of ``mProjectPP`` (plane to plane, same frame),
    ``mProjectPP-tan`` (plane to plane through distorted-TAN approximation
    headers from mTANHdr, as mProjExec does for other projections),
    ``mProjectPP-rotated`` (plane to plane when the frames differ by a
    rotation: the input's pixel grid described in the mosaic's frame, see
    ``frames``), ``mProject`` (exact, any projection or frame) and
    ``mProjectQL`` (interpolating quick look). The choice is made once per
    image when the image table is built (see ``inputs.projection_method``);
    the -tan and -rotated paths fall back to mProject for an image whose
    alternate header would not be accurate enough.
    """
    _injected_fault(raw_image)
    montage = load_montage()
    with atomic.fits_pair(output_image) as temp_image:
        if method == "mProject":
            result = montage.mProject(raw_image, temp_image, header, hdu=hdu)
        elif method == "mProjectQL":
            result = montage.mProjectQL(raw_image, temp_image, header, hdu=hdu, noAreas=False)
        elif method in ("mProjectPP", "mProjectPP-tan", "mProjectPP-rotated"):
            with atomic.scratch_dir(output_image) as scratch:
                altin, altout = "", ""
                if method == "mProjectPP-tan":
                    altin, altout = _tan_headers(montage, raw_image, hdu, header, scratch)
                elif method == "mProjectPP-rotated":
                    altin, altout = _rotated_headers(montage, raw_image, hdu, header, scratch)
                if altin is None:
                    result = montage.mProject(raw_image, temp_image, header, hdu=hdu)
                else:
                    result = montage.mProjectPP(
                        raw_image,
                        temp_image,
                        header,
                        hdu=hdu,
                        altin=altin,
                        altout=altout,
                    )
        else:
            raise StepError(f"unknown projection method {method!r}")
        check_status(result, f"{method} of {raw_image}")
    return result


# Fault injection for the tests of failure handling: raw file names (as the
# user named them; os.pathsep between names) whose projection fails as a read
# error would. Reruns must retry such failures, so the tests need failures
# that come and go without the file changing.
FAULT_VARIABLE = "MOSAICFLOW_FAIL_PROJECTION"


def _injected_fault(raw_image):
    names = os.environ.get(FAULT_VARIABLE)
    if names and os.path.basename(os.path.realpath(raw_image)) in names.split(os.pathsep):
        raise StepError(f"cannot read {raw_image} (fault injected by {FAULT_VARIABLE})")


def _tan_headers(montage, raw_image, hdu, header, scratch):
    """Distorted-TAN headers for the sides that are not plane projections.

    Returns ``(altin, altout)``; an empty string means that side is already a
    plane projection, ``(None, None)`` means no approximation is good enough
    and the exact projector must be used (mProjExec's fallbacks).
    """
    altin = altout = ""
    if _projection_of_header_file(header) not in frames.PLANE_PROJECTIONS:
        altout = os.path.join(scratch, "altout.hdr")
        if not _tan_approximation(montage, header, altout):
            return None, None
    original = os.path.join(scratch, "orig.hdr")
    check_status(montage.mGetHdr(raw_image, original, hdu=hdu), f"mGetHdr of {raw_image}")
    if _projection_of_header_file(original) not in frames.PLANE_PROJECTIONS:
        altin = os.path.join(scratch, "altin.hdr")
        if not _tan_approximation(montage, original, altin):
            return None, None
    return altin, altout


def _rotated_headers(montage, raw_image, hdu, header, scratch):
    """Headers for mProjectPP when the input's frame differs from the mosaic's by a rotation.

    ``altin`` is the input's pixel grid described in the mosaic's frame (the
    input's own header or, for a projection other than the zenithal ones, its
    distorted-TAN approximation, rotated; see ``frames``); ``altout`` is as in
    ``_tan_headers``. ``(None, None)`` means mProject must be used: a header
    that cannot be rotated (e.g. a reference point at a pole) or a rotated
    header that Montage places more than ``frames.MAX_ERROR_PIXELS`` away
    from the original.
    """
    from ..sky import frames

    altout = ""
    target = frames.read_header_file(header)
    target_frame = frames.rotation_frame(target)
    if frames.projection_code(target) not in frames.PLANE_PROJECTIONS:
        altout = os.path.join(scratch, "altout.hdr")
        if not _tan_approximation(montage, header, altout):
            print(f"{header}: no distorted-TAN approximation within tolerance; using mProject", flush=True)
            return None, None
    original = os.path.join(scratch, "orig.hdr")
    check_status(montage.mGetHdr(raw_image, original, hdu=hdu), f"mGetHdr of {raw_image}")
    source, source_image = original, raw_image
    if frames.projection_code(frames.read_header_file(original)) not in frames.PLANE_PROJECTIONS:
        source, source_image = os.path.join(scratch, "tan.hdr"), None
        if not _tan_approximation(montage, original, source):
            print(f"{raw_image}: no distorted-TAN approximation within tolerance; using mProject", flush=True)
            return None, None
    altin = os.path.join(scratch, "altin.hdr")
    try:
        error = frames.write_rotated_header(
            source, target_frame, altin, scratch, source_image=source_image, hdu=hdu, montage=montage
        )
    except frames.FrameError as reason:
        print(f"{raw_image}: no rotated header ({reason}); using mProject", flush=True)
        return None, None
    if error > frames.MAX_ERROR_PIXELS:
        print(f"{raw_image}: rotated header off by {error:.3g} pixels; using mProject", flush=True)
        return None, None
    return altin, altout


def _tan_approximation(montage, header, output):
    result = montage.mTANHdr(header, output, order=5, maxiter=50, tolerance=0.01)
    if str(result.get("status")) != "0":
        return False
    errors = [result.get(k, 0.0) for k in ("fwdxerr", "fwdyerr", "revxerr", "revyerr")]
    return max(errors) <= TAN_APPROXIMATION_MAX_ERROR


def _projection_of_header_file(path):
    from ..sky import frames

    return frames.projection_code(frames.read_header_file(path))


FIT_STATUS_COLUMNS = ["status", "message", *tables.FIT_FIELDS, "median"]
BATCH_FIT_COLUMNS = ["plus", "minus", *FIT_STATUS_COLUMNS]


def difference_fit(plus_image, minus_image, header, output, level_only=False, median_below=None):
    """Fit a plane to the difference of two overlapping projected images.

    Writes a one-row TSV: the fit (full precision) or the reason it failed.
    A failed fit is a normal outcome (tiny or empty overlaps); mDiffFitExec
    counts it and leaves it out of the fits table, and so do we.
    """
    montage = load_montage()
    with atomic.scratch_dir(output) as scratch:
        row = _fit(montage, plus_image, minus_image, header, scratch, level_only, median_below)
    tables.write_tsv(output, FIT_STATUS_COLUMNS, [row])
    return row


def difference_fits(pairs, header, output, level_only=False, median_below=None):
    """``difference_fit`` for several overlaps in one job (an image's, or a batch's).

    ``pairs`` are (plus, minus) projected files. Writes one row per overlap
    (``plus`` and ``minus`` ids first) and returns the rows. Fewer jobs than
    overlaps: a fit takes ~20 ms, less than a job's fixed cost.
    """
    montage = load_montage()
    rows = []
    with atomic.scratch_dir(output) as scratch:
        for plus_image, minus_image in pairs:
            plus = os.path.basename(plus_image)[: -len(".fits")]
            minus = os.path.basename(minus_image)[: -len(".fits")]
            row = _fit(montage, plus_image, minus_image, header, scratch, level_only, median_below)
            rows.append({"plus": plus, "minus": minus, **row})
    tables.write_tsv(output, BATCH_FIT_COLUMNS, rows)
    return rows


def _fit(montage, plus_image, minus_image, header, scratch, level_only, median_below=None):
    """One mDiffFit, as a row of FIT_STATUS_COLUMNS. The difference's median is read
    (it costs half a fit) only for a box whose shorter side is below ``median_below``
    pixels: a sliver, whose level mosaicflow.montage.fitscreen takes from it; else NaN."""
    diff = os.path.join(scratch, "diff.fits")
    result = montage.mDiffFit(plus_image, minus_image, diff, header, keep=True, levelOnly=level_only)
    median = float("nan")
    if str(result.get("status")) == "0" and median_below is not None:
        if min(result["boxwidth"], result["boxheight"]) < median_below:
            median = difference_median(diff)
    for path in (diff, diff.removesuffix(".fits") + "_area.fits"):
        atomic.discard(path)
    if str(result.get("status")) == "0":
        fit = {name: repr(result[name]) for name in tables.FIT_FIELDS}
        return {"status": "ok", "message": "", **fit, "median": repr(median)}
    message = result.get("msg", b"")
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return {"status": "failed", "message": message or "mDiffFit failed"}


def difference_images(pairs, header, out_dir):
    """mDiff of every (plus, minus) projected pair into ``out_dir`` as PLUS+MINUS.fits
    (and its _area.fits), made in a temporary folder renamed at the end; returns the names.
    A pair mDiff cannot difference (no common pixels) is left out."""
    montage = load_montage()
    names = []
    with atomic.folder_output(out_dir) as temp:
        for plus_image, minus_image in pairs:
            name = f"{os.path.basename(plus_image)[: -len('.fits')]}+{os.path.basename(minus_image)}"
            result = montage.mDiff(plus_image, minus_image, os.path.join(temp, name), header)
            if str(result.get("status")) == "0":
                names.append(name)
    return names


def difference_median(path):
    """The median of a difference image's finite pixels (NaN if none), read without numpy
    (this module stays light: it starts hundreds of times a run)."""
    import array
    import statistics

    raw, header = frames.read_fits_header(path)
    bitpix = header.get("BITPIX")
    if bitpix not in (-32, -64) or header.get("BSCALE", 1) != 1 or header.get("BZERO", 0) != 0:
        raise StepError(f"{path}: a difference image of BITPIX {bitpix} (expected floating point)")
    values = array.array("f" if bitpix == -32 else "d")
    count = int(header.get("NAXIS1") or 0) * int(header.get("NAXIS2") or 0)
    with open(path, "rb") as handle:
        handle.seek(len(raw))
        values.frombytes(handle.read(count * values.itemsize))
    if sys.byteorder == "little":
        values.byteswap()
    finite = [v for v in values if v == v and abs(v) != float("inf")]
    return statistics.median(finite) if finite else float("nan")


def read_corrections(corrections_tsv):
    """{image id: (a, b, c)} from the corrections table written by the model step."""
    return {row["id"]: (float(row["a"]), float(row["b"]), float(row["c"])) for row in tables.read_tsv(corrections_tsv)}


def read_correction(corrections_tsv, ident, planes=None):
    """(a, b, c) of one image from the corrections table written by the model step
    (``planes``: that table already read with ``read_corrections``)."""
    planes = read_corrections(corrections_tsv) if planes is None else planes
    if ident not in planes:
        raise StepError(f"{corrections_tsv} has no correction for image {ident}")
    return planes[ident]


@contextlib.contextmanager
def corrected_folder(projected_dir, fnames, corrections_tsv, near):
    """A scratch folder of background-corrected copies of some projected images.

    For ``background.correct_jobs: coadd``: the coadd (of a tile, or of the
    whole mosaic) subtracts its own images' planes instead of reading the
    files of one correction job per image. Each ``FNAME`` gets the same
    mBackground call as in ``background``; its ``_area`` file, which
    mBackground would copy unchanged, is a link to the projected one. With
    no ``corrections_tsv`` this yields ``projected_dir`` itself (or links to
    its images named as in the table: ``_named_as_in_table``).
    """
    if not corrections_tsv:
        with _named_as_in_table(projected_dir, fnames, near) as folder:
            yield folder
        return
    montage = load_montage()
    planes = read_corrections(corrections_tsv)
    with atomic.scratch_dir(near) as folder:
        for fname in fnames:
            # FNAME is ID.fits, or batch-N/ID.fits (layout.projected_name)
            plane = read_correction(corrections_tsv, os.path.basename(fname)[: -len(".fits")], planes)
            source = os.path.join(projected_dir, fname)
            target = os.path.join(folder, fname)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            check_status(montage.mBackground(source, target, *plane, noAreas=True), f"mBackground of {source}")
            os.symlink(os.path.abspath(atomic.area_name(source)), atomic.area_name(target))
        yield folder


@contextlib.contextmanager
def _named_as_in_table(images_dir, fnames, near):
    """``images_dir`` with its images under the table's names ``fnames``.

    corrected/ holds ID.fits whatever the projection layout, while the
    projected table names batch jobs' images batch-N/ID.fits
    (``layout.projected_name``): then a scratch folder of links named as in
    the table stands in for it.
    """
    if all(os.path.exists(os.path.join(images_dir, fname)) for fname in fnames):
        yield images_dir
        return
    with atomic.scratch_dir(near) as folder:
        for fname in fnames:
            for name in (fname, atomic.area_name(fname)):
                link = os.path.join(folder, name)
                os.makedirs(os.path.dirname(link), exist_ok=True)
                os.symlink(os.path.abspath(os.path.join(images_dir, os.path.basename(name))), link)
        yield folder


def background(projected_image, corrected_image, a, b, c):
    """Subtract the plane a*x + b*y + c from one projected image (mBackground)."""
    montage = load_montage()
    with atomic.fits_pair(corrected_image) as temp_image:
        # mBackground's area output is a byte-for-byte copy of its input's, and
        # without areas it only stops blanking pixels whose area is 0, which
        # Montage's projectors leave NaN already (tested for each projector).
        # The kernel copies the area in ~2 ms where Montage's FITS reader and
        # writer take ~10 ms, on each of hundreds of images.
        result = montage.mBackground(projected_image, temp_image, a, b, c, noAreas=True)
        check_status(result, f"mBackground of {projected_image}")
        atomic.copy_file(atomic.area_name(projected_image), atomic.area_name(temp_image))
    return result
