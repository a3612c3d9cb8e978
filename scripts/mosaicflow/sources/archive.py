"""Find and download survey images from Montage's archive list service.

The service is the one behind MontagePy's ``mArchiveList``/``mArchiveDownload``
(``python/MontagePy/mArchiveList.py`` and ``mArchiveDownload.py`` in Montage's
source)::

    GET http://montage.ipac.caltech.edu/cgi-bin/ArchiveList/nph-archivelist
        ?survey=<survey>+<band>&location=<name or coordinates>&size=<deg>&units=deg&mode=JSON

It answers with a JSON list, one object per image; MontagePy uses each
object's ``url`` (download address) and ``file`` (file name; ``.bz2`` files are
decompressed on the fly and stored without the ``.bz2``). The C mArchiveList
(``MontageLib/ArchiveList/montageArchiveList.c``, ``mode=TBL``) reports
failures as a body starting ``{"error":"..."}``; we accept that form in JSON
mode too.

Three parts, used by different jobs:

* ``query_archive`` + ``write_image_list``: once per mosaic, the image list.
* ``download``: once per image, into a cache shared by all mosaics and runs
  (``cache_path``), so an image needed twice is downloaded once.
* ``archive_url``: the service address (config value, else the environment
  variable ``MOSAIC_ARCHIVE_URL``, else IPAC's).

Per-image download jobs start one process each: this module imports only the
standard library at import time; ``requests`` is imported inside the functions
that use it and astropy/numpy only through ``inputs.inspect_image`` when a
downloaded file is validated.
"""

import bz2
import hashlib
import json
import os
import re
import time
import unicodedata
import zlib

from .. import UserError
from ..files import tables
from ..files.atomic import TEMPORARY_PREFIX, commit, discard, temp_path_for, write_text
from .fitsname import FITS_SUFFIXES, fits_suffix

DEFAULT_ARCHIVE_URL = "http://montage.ipac.caltech.edu/cgi-bin/ArchiveList/nph-archivelist"
ARCHIVE_URL_ENV = "MOSAIC_ARCHIVE_URL"

# Typical diagonal (degrees) of one archive image, used to pad the query so
# that images whose footprint only touches the region's edge are listed even
# if the service selects images by their centre. 2MASS Atlas images are
# 512 x 1024 px at 1"/px (0.142 x 0.284 deg), SDSS frames 2048 x 1489 px at
# 0.396"/px (0.225 x 0.164 deg), WISE Atlas tiles 4095 px at 1.375"/px.
IMAGE_DIAGONAL_DEG = {"2MASS": 0.32, "SDSS": 0.28, "WISE": 2.22}
DEFAULT_PADDING_DEG = 0.5

IMAGE_LIST_COLUMNS = ["file_name", "url", "size", "remote_name", "record"]

# HTTP statuses worth retrying; every other 4xx/5xx fails at once.
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
_CHUNK = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"
_FITS_MAGIC = b"SIMPLE  ="


class ArchiveError(UserError):
    """The archive service or a download failed; the message says which URL and why."""


class ArchiveUnreachable(ArchiveError):
    """The archive service could not be contacted at all (offline, DNS, refused, timeout)."""


class DownloadError(ArchiveError):
    """One image could not be downloaded as a valid FITS file (after the allowed retries)."""


# ---- service address and query --------------------------------------------------------------------------------


def archive_url(configured=None):
    """The list service's URL: ``configured`` (config key), else ``$MOSAIC_ARCHIVE_URL``, else IPAC's."""
    return configured or os.environ.get(ARCHIVE_URL_ENV) or DEFAULT_ARCHIVE_URL


def padded_size(size_deg, survey, padding_deg=None):
    """Query size (degrees) for a region of side ``size_deg``: size + one typical image diagonal.

    An image that touches the region's edge has its centre at most half an
    image diagonal outside it, so widening the box by a whole diagonal (half
    on each side) lists it even if the service selects by image centre. The
    extra images that do not overlap the region are dropped later by the
    overlap test of the image table. ``padding_deg`` overrides the per-survey
    value (0 disables padding). For a region of width x height at an
    arbitrary orientation to the equatorial axes, pass
    ``size_deg = hypot(width, height)`` (as Montage's C mArchiveList does).
    """
    size = float(size_deg)
    if not size > 0:
        raise UserError(f"archive query size must be a positive number of degrees, not {size_deg!r}")
    if padding_deg is None:
        padding_deg = IMAGE_DIAGONAL_DEG.get(str(survey).strip().upper(), DEFAULT_PADDING_DEG)
    return size + float(padding_deg)


def looks_like_coordinates(location):
    """True for "lon lat" in degrees or sexagesimal ("10h44m -59d52m", "10:44:00 -59:52:00"); False for names."""
    text = re.sub(r"(?<=[\d.])[hmsdHMSD\u00b0'\"]", " ", str(location).strip())
    return bool(re.fullmatch(r"[\d\s+\-.:,]+", text)) and len(re.findall(r"\d+(?:\.\d*)?|\.\d+", text)) >= 2


def query_params(survey, band, location, size_deg):
    """Query parameters, in MontagePy's form (survey and band joined by a space)."""
    return {
        "survey": f"{survey} {band}".strip(),
        "location": str(location),
        "size": _format_degrees(size_deg),
        "units": "deg",
        "mode": "JSON",
    }


def query_archive(
    survey,
    band,
    location,
    size_deg,
    base_url=None,
    timeout=(10, 120),
    retries=2,
    backoff_factor=1.0,
    padding_deg=None,
    allow_empty=False,
):
    """List the images of ``survey``/``band`` covering a square of ``size_deg`` around ``location``.

    The query asks for ``padded_size(size_deg, survey, padding_deg)``.
    ``location`` is passed to the service as is: coordinates or an object
    name, which the service resolves. Returns one dict per image (see
    ``parse_records``). Raises ``ArchiveUnreachable`` when the service cannot
    be contacted, ``ArchiveError`` when it answers with an error or something
    that is not the expected JSON list, or with no images (unless
    ``allow_empty``). Both are ``UserError``s.
    """
    import requests

    url = archive_url(base_url)
    query_size = padded_size(size_deg, survey, padding_deg)
    params = query_params(survey, band, location, query_size)
    session = _session(retries, backoff_factor)
    is_name = not looks_like_coordinates(location)
    try:
        response = session.get(url, params=params, timeout=timeout)
        body = response.content
    except requests.exceptions.RequestException as error:
        raise ArchiveUnreachable(
            f"cannot reach the archive list service at {url}: {_reason(error)}. "
            f"Check the network connection, or set the service address (config, or ${ARCHIVE_URL_ENV}). "
            "A run whose image list and images are already in the download cache still works offline."
        ) from None
    finally:
        session.close()
    shown = response.url or url
    problem = None
    data = None
    if response.status_code != 200:
        problem = f"HTTP {response.status_code} {response.reason or ''}".strip()
        detail = _service_error(body)
        if detail:
            problem += f": {detail}"
    else:
        try:
            data = json.loads(body.decode("utf-8", errors="replace"))
        except ValueError:
            problem = f"the answer is not JSON (starts {_preview(body)})"
        else:
            if isinstance(data, dict) and "error" in data:
                problem = f"the service reported: {data['error']}"
            elif not isinstance(data, list):
                problem = f"expected a JSON list of images, got {type(data).__name__} {_preview(body)}"
    if problem and is_name:
        raise ArchiveError(
            f"the object name {str(location)!r} could not be resolved here ({problem}; query {shown}). "
            'Give the location as coordinates instead: "lon lat" in degrees, e.g. "161.26 -59.87".'
        )
    if problem:
        raise ArchiveError(f"archive list query failed: {problem} (query {shown})")
    records = parse_records(data)
    if not records and not allow_empty:
        hint = (
            f" If {str(location)!r} is an object name the service may not have resolved it:"
            ' give "lon lat" in degrees instead.'
            if is_name
            else ""
        )
        raise ArchiveError(
            f"the archive lists no {survey} {band} images in a {query_size:g} deg box around {location!r} "
            f"(query {shown}).{hint}"
        )
    return records


def parse_records(data):
    """Turn the service's JSON list into image dicts.

    Each dict has ``url``; ``file_name`` (local name: ASCII, safe, unique in
    the list, ``.bz2`` removed because ``download`` decompresses it, a FITS
    suffix guaranteed); ``remote_name`` (the service's ``file``); ``size``
    (bytes as sent, if the record states it, else None); ``record`` (the raw
    JSON object). Records without a URL are an error; repeated URLs are
    listed once.
    """
    if not isinstance(data, list):
        raise ArchiveError(f"expected a JSON list of images, got {type(data).__name__}")
    images, seen_urls = [], set()
    for index, record in enumerate(data):
        if not isinstance(record, dict):
            raise ArchiveError(f"archive list entry {index} is not a JSON object: {str(record)[:100]!r}")
        url = record.get("url") or record.get("URL")
        if not isinstance(url, str) or not url.strip():
            raise ArchiveError(f"archive list entry {index} has no 'url': {json.dumps(record)[:200]}")
        url = url.strip()
        if url in seen_urls:
            continue
        seen_urls.add(url)
        remote = record.get("file") or record.get("fname") or url.rstrip("/").rsplit("/", 1)[-1]
        images.append({"url": url, "remote_name": str(remote), "size": _record_size(record), "record": record})
    _assign_file_names(images)
    return images


# What ``local_name`` makes: a safe stem and a FITS suffix, ``.bz2`` dropped (the
# download job's wildcard constraint, in rules/archive.smk).
CACHE_NAME_PATTERN = (
    r"[A-Za-z0-9][A-Za-z0-9._-]*(?:"
    + "|".join(re.escape(suffix) for suffix in FITS_SUFFIXES if not suffix.endswith(".bz2"))
    + ")"
)


def local_name(remote_name, url, force_hash=False):
    """A safe ASCII file name for one archive image (without ``.bz2``, with a FITS suffix).

    Names that had to be changed (other than dropping ``.bz2``) get a short
    hash of the URL, so two different originals never map to one name.
    """
    name = str(remote_name).replace("\\", "/").rsplit("/", 1)[-1]
    if name.lower().endswith(".bz2"):
        name = name[:-4]
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).lstrip("._-")
    suffix = fits_suffix(clean)
    stem = clean[: len(clean) - len(suffix)] if suffix else clean
    stem = stem.rstrip("._-")[:100]
    changed = clean != name or not suffix or not stem
    if changed or force_hash:
        digest = hashlib.sha1(url.encode("utf-8")).hexdigest()[:10]
        stem = f"{stem}-{digest}" if stem else f"image-{digest}"
    return stem + (suffix or ".fits")


def _assign_file_names(images):
    for image in images:
        image["file_name"] = local_name(image["remote_name"], image["url"])
    # Same name, different URLs (compared case-insensitively, for case-insensitive file systems).
    counts = {}
    for image in images:
        counts[image["file_name"].lower()] = counts.get(image["file_name"].lower(), 0) + 1
    for image in images:
        if counts[image["file_name"].lower()] > 1:
            image["file_name"] = local_name(image["remote_name"], image["url"], force_hash=True)


def _record_size(record):
    for key in ("size", "filesize", "file_size", "fsize", "bytes", "nbytes", "content_length"):
        value = record.get(key)
        if isinstance(value, bool) or value is None:
            continue
        try:
            size = int(str(value).strip())
        except ValueError:
            continue
        if size > 0:
            return size
    return None


# ---- image list -------------------------------------------------------------------------------------------------


def write_image_list(records, path):
    """Write the image list (from ``query_archive``) as a TSV table, atomically.

    Columns: ``file_name``, ``url``, ``size`` (empty if unknown),
    ``remote_name`` and ``record`` (the raw JSON object, one line).
    """
    rows = [
        {
            "file_name": r["file_name"],
            "url": r["url"],
            "size": "" if r.get("size") is None else int(r["size"]),
            "remote_name": r.get("remote_name", ""),
            "record": json.dumps(r.get("record", {}), sort_keys=True, ensure_ascii=True),
        }
        for r in records
    ]
    tables.write_tsv(path, IMAGE_LIST_COLUMNS, rows)


def read_image_list(path):
    """Rows written by ``write_image_list``, with ``size`` as int or None and ``record`` as a dict."""
    rows = tables.read_tsv(path)
    for row in rows:
        row["size"] = int(row["size"]) if row.get("size") else None
        row["record"] = json.loads(row["record"]) if row.get("record") else {}
    return rows


# ---- cache and download -----------------------------------------------------------------------------------------


def cache_path(cache_dir, survey, band, file_name):
    """Where one image lives in the shared cache: ``<cache_dir>/<survey>/<band>/<file_name>``.

    Survey and band are lower-cased (the service treats them case-insensitively)
    so every mosaic and run that needs an image finds the same file.
    """
    if not file_name or "/" in file_name or "\\" in file_name or file_name.startswith("."):
        raise ValueError(f"not a plain cache file name: {file_name!r}")
    return os.path.join(cache_dir, _slug(survey), _slug(band), file_name)


def remove_stale_temps(cache_dir, max_age_seconds=86400):
    """Remove ``.tmp-`` files older than ``max_age_seconds`` left in the cache by killed jobs; return how many.

    Only old ones: a younger temp file may belong to a download still running
    (for another mosaic or run sharing the cache).
    """
    removed, now = 0, time.time()
    for root, _, files in os.walk(cache_dir):
        for name in files:
            path = os.path.join(root, name)
            try:
                if name.startswith(TEMPORARY_PREFIX) and now - os.path.getmtime(path) > max_age_seconds:
                    os.remove(path)
                    removed += 1
            except FileNotFoundError:
                pass
    return removed


def download_record(record, cache_dir, survey, band, **options):
    """``download`` one image-list row (``file_name``, ``url``, ``size``) into the shared cache."""
    dest = cache_path(cache_dir, survey, band, record["file_name"])
    size = record.get("size")
    return download(record["url"], dest, expected_size=int(size) if size else None, **options)


def download(url, dest, expected_size=None, timeout=(10, 120), retries=5, backoff_factor=1.0, validate_existing=True):
    """Download one image to ``dest`` safely; return a dict describing what happened.

    * If ``dest`` exists and opens as a FITS image with a celestial WCS,
      nothing is downloaded: ``{"status": "cached", ...}``. An existing
      invalid file is replaced. ``validate_existing=False`` trusts any
      existing non-empty file (no astropy import: cheapest cache hit; safe
      because only validated files are ever renamed into place).
    * The body is streamed to a ``.tmp-`` file next to ``dest`` (raw bytes,
      no Content-Encoding decoding), and its length checked against
      Content-Length and ``expected_size`` (both count the bytes as sent).
    * bzip2 data is decompressed when ``dest`` does not end in ``.bz2`` (as
      MontagePy does); gzip data is kept as is when ``dest`` ends in ``.gz``
      (CFITSIO and astropy read it), else decompressed too.
    * The result must pass ``inputs.inspect_image``; only then is it renamed
      to ``dest``. Temporary files are removed on every failure.

    Retries: up to ``retries`` in total, with exponential backoff
    (``backoff_factor * 2**(n-1)`` seconds): urllib3's ``Retry`` for
    connection errors, timeouts and HTTP 408/429/5xx before the body; this
    function for failures in the body (dropped connection, short body,
    HTML instead of FITS, truncated or invalid FITS). Other HTTP errors
    (e.g. 404) fail at once. ``timeout`` is requests' (connect, read) pair.
    Raises ``DownloadError`` (an ``ArchiveError`` and ``UserError``) naming
    the URL and the last reason.
    """
    if os.path.exists(dest):
        if (not validate_existing and os.path.getsize(dest) > 0) or _validate(dest) is None:
            return {"status": "cached", "path": dest, "bytes": os.path.getsize(dest), "retries": 0}
        discard(dest)

    import requests

    used = 0  # retries spent, by urllib3 and by this loop
    while True:
        session = _session(retries - used, backoff_factor)
        temp = temp_path_for(dest, suffix=_fits_suffix(dest))
        try:
            try:
                response = session.get(url, stream=True, timeout=timeout)
            except requests.exceptions.RequestException as error:
                # urllib3 used up the remaining retries (or the error is not retryable).
                raise DownloadError(f"cannot download {url}: {_reason(error)} ({retries} retries allowed)") from None
            try:
                used += _retries_used(response)
                if response.status_code != 200:
                    if response.status_code in RETRY_STATUSES:
                        raise _Retryable(f"HTTP {response.status_code} {response.reason or ''}".strip())
                    raise DownloadError(f"cannot download {url}: HTTP {response.status_code} {response.reason or ''}")
                received = _receive(response, temp, dest)
            finally:
                response.close()
            _check_length(received, response.headers.get("Content-Length"), expected_size)
            problem = _validate(temp)
            if problem:
                raise _Retryable(f"not a usable FITS image: {problem}")
            commit(temp, dest)
            return {"status": "downloaded", "path": dest, "bytes": os.path.getsize(dest), "retries": used}
        except _Retryable as failure:
            discard(temp)
            used += 1
            if used > retries:
                raise DownloadError(f"cannot download {url}: {failure} (gave up after {retries} retries)") from None
            time.sleep(min(backoff_factor * 2 ** (used - 1), 60.0))
        except BaseException:
            discard(temp)
            raise
        finally:
            session.close()


class _Retryable(Exception):
    """A failed attempt worth repeating; the message is the reason."""


def _receive(response, temp, dest):
    """Stream the raw body into ``temp``, decompressing bz2 (and gzip unless ``dest`` is .gz). Returns bytes read."""
    import urllib3

    received = 0
    decoder = None
    first = True
    try:
        with open(temp, "wb") as out:
            for chunk in response.raw.stream(_CHUNK, decode_content=False):
                if not chunk:
                    continue
                received += len(chunk)
                if first:
                    first = False
                    decoder = _decoder_for(chunk, dest, response.headers.get("Content-Type", ""))
                out.write(decoder.feed(chunk) if decoder else chunk)
            if decoder:
                decoder.finish()
    except (urllib3.exceptions.HTTPError, OSError) as error:
        announced = response.headers.get("Content-Length")
        of = f" of {announced} (Content-Length)" if announced else ""
        raise _Retryable(f"transfer failed after {received}{of} bytes ({_reason(error)})") from None
    except (EOFError, ValueError, zlib.error) as error:  # corrupt compressed data
        raise _Retryable(f"corrupt compressed data after {received} bytes ({error})") from None
    if received == 0:
        raise _Retryable("empty response")
    return received


def _decoder_for(first_chunk, dest, content_type):
    lower = dest.lower()
    if first_chunk.startswith(_BZIP2_MAGIC):
        return None if lower.endswith(".bz2") else _Decoder("bz2")
    if first_chunk.startswith(_GZIP_MAGIC):
        return None if lower.endswith((".gz", ".fz")) else _Decoder("gzip")
    if first_chunk.startswith(_FITS_MAGIC):
        return None
    kind = f" ({content_type.split(';')[0].strip()})" if content_type else ""
    raise _Retryable(f"the server sent something other than FITS{kind}, starting {_preview(first_chunk)}")


class _Decoder:
    """Streaming bz2/gzip decompression, including multi-stream files (pbzip2, concatenated gzip)."""

    def __init__(self, kind):
        self.kind = kind
        self.engine = self._new()

    def _new(self):
        return bz2.BZ2Decompressor() if self.kind == "bz2" else zlib.decompressobj(wbits=31)

    def feed(self, data):
        out = []
        while data:
            out.append(self.engine.decompress(data))
            if not self.engine.eof:
                break
            data = self.engine.unused_data
            if data:
                self.engine = self._new()
        return b"".join(out)

    def finish(self):
        if not self.engine.eof:
            raise EOFError(f"{self.kind} stream ends early (truncated download)")


def _check_length(received, content_length, expected_size):
    if content_length is not None:
        try:
            announced = int(content_length)
        except ValueError:
            announced = None
        if announced is not None and announced != received:
            raise _Retryable(f"received {received} bytes but Content-Length is {announced}")
    if expected_size is not None and int(expected_size) != received:
        raise _Retryable(f"received {received} bytes but the image list says {int(expected_size)}")


def _validate(path):
    """None if ``path`` is a usable FITS image, else the reason."""
    from .inputs import BadImage, inspect_image

    try:
        inspect_image(path)
    except BadImage as problem:
        return str(problem)
    except OSError as error:
        return f"cannot read ({error.strerror or error})"
    return None


# ---- helpers ----------------------------------------------------------------------------------------------------


def _session(retries, backoff_factor):
    """A requests session whose adapter retries connection errors, timeouts and 408/429/5xx."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util import Retry

    budget = max(0, int(retries))
    retry = Retry(
        total=budget,
        connect=budget,
        read=budget,
        status=budget,
        other=0,
        redirect=10,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor,
        raise_on_status=False,
        respect_retry_after_header=False,  # a long Retry-After would stall the job
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "mosaicflow (Montage mosaic workflow)"
    return session


def _retries_used(response):
    """Retries urllib3 spent on this response and the redirects that led to it."""
    used = 0
    for hop in [*response.history, response]:
        retries = getattr(hop.raw, "retries", None)
        if retries is not None:
            used += sum(1 for event in retries.history if event.redirect_location is None)
    return used


def _reason(error):
    """A one-line reason from a requests/urllib3 exception, innermost cause preferred."""
    inner = error
    for _ in range(6):
        nested = getattr(inner, "reason", None)
        if not isinstance(nested, BaseException):
            nested = next((a for a in getattr(inner, "args", ()) if isinstance(a, BaseException)), None)
        if nested is None or nested is inner:
            break
        inner = nested
    args = getattr(inner, "args", ())
    text = args[0] if args and isinstance(args[0], str) else str(inner)
    text = re.sub(r"<[\w.]+ object at 0x[0-9a-f]+>: ?", "", text.strip()) or type(inner).__name__
    return text.splitlines()[0][:300]


def _service_error(body):
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return _preview(text.encode("utf-8")) if text else ""
    if isinstance(data, dict) and "error" in data:
        return str(data["error"])[:300]
    return text[:200]


def _preview(data):
    text = data[:60].decode("ascii", errors="replace")
    text = "".join(c if c.isprintable() else "?" for c in text)
    return repr(text + ("..." if len(data) > 60 else ""))


def _format_degrees(value):
    return f"{float(value):.6f}".rstrip("0").rstrip(".")


def _slug(text):
    slug = re.sub(r"[^a-z0-9._-]+", "_", str(text).strip().lower()).strip("._-")
    if not slug:
        raise ValueError(f"empty survey or band name: {text!r}")
    return slug


def _fits_suffix(path):
    return fits_suffix(path) or ".fits"


# ---- workflow glue: where each cached image comes from, and offline reruns -------------------------------------


def source_record_path(image_path):
    """The small JSON next to a cached image that says where to download it from.

    The download job reads the URL from here, so no URL (data from a remote
    service) is ever put into a shell command.
    """
    return image_path + ".source.json"


def write_source_records(images, cache_dir, survey, band):
    """Write each image's source record into the cache; return the cache paths, in list order."""
    paths = []
    for image in images:
        path = cache_path(cache_dir, survey, band, image["file_name"])
        record = {"url": image["url"], "size": image.get("size")}
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_text(source_record_path(path), json.dumps(record, sort_keys=True) + "\n")
        paths.append(path)
    return paths


def read_source_record(record_path):
    """(url, size or None) from an image's source record (``source_record_path``)."""
    with open(record_path, encoding="utf-8") as handle:
        record = json.load(handle)
    return record["url"], record.get("size")


def cached_query_path(cache_dir, survey, band, location, size_deg):
    """Where the image list of one query is kept for reruns without the network."""
    key = json.dumps([survey.lower(), band.lower(), str(location).strip(), float(size_deg)])
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]
    return os.path.join(cache_dir, _slug(survey), _slug(band), "queries", digest + ".tsv")
