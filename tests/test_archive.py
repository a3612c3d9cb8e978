"""Archive source: query parsing, safe downloads and the shared cache, against a real local HTTP server."""

import bz2
import gzip
import io
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from astropy.io import fits

from archive_server import LIST_PATH, ArchiveServer, closed_port
from mosaicflow import UserError
from mosaicflow.sky import synth
from mosaicflow.sources import archive

# Short timeouts and backoff keep every test well under a second or two.
FAST = {"timeout": (1.0, 0.3), "backoff_factor": 0.01}


@pytest.fixture(scope="module")
def tiles():
    """Synthetic FITS tiles as bytes: {name: (plain, gz, bz2)}."""
    truth = synth.make_truth(
        {"columns": 2, "rows": 2, "stars": 50, "nebulae": 1, "tile_width": 128, "tile_height": 256}
    )
    result = {}
    for tile in truth["tiles"]:
        header, data = synth.render_tile(tile, truth)
        buffer = io.BytesIO()
        fits.PrimaryHDU(data=data, header=header).writeto(buffer)
        plain = buffer.getvalue()
        result[tile["name"]] = (plain, gzip.compress(plain, mtime=0), bz2.compress(plain))
    return result


@pytest.fixture(scope="module")
def running_server():
    server = ArchiveServer().start()
    yield server
    server.stop()


@pytest.fixture
def server(running_server):
    running_server.reset()
    return running_server


@pytest.fixture
def tile(tiles):
    name = sorted(tiles)[0]
    return name, tiles[name]


def cache_listing(directory):
    """Every file under ``directory`` (relative paths), including hidden temp files."""
    found = []
    for root, _, files in os.walk(directory):
        found += [os.path.relpath(os.path.join(root, f), directory) for f in files]
    return sorted(found)


def assert_valid_copy(path, plain_bytes):
    with fits.open(path) as hdul:
        expected = fits.open(io.BytesIO(plain_bytes))[0].data
        np.testing.assert_array_equal(hdul[0].data, expected)


# ---- query -------------------------------------------------------------------------------------------------------


def test_query_sends_montagepy_parameters_and_parses_records(server):
    server.state.listing = [
        {"file": "ki0240232.fits.bz2", "url": server.url("/files/ki0240232.fits.bz2"), "filesize": "1234"},
        {"file": "kh0240233.fits.gz", "url": server.url("/files/kh0240233.fits.gz")},
        {"file": "../../etc/Ångström image.fits", "url": server.url("/files/x.fits")},
        {"file": "same.fits", "url": server.url("/a/same.fits")},
        {"file": "SAME.fits", "url": server.url("/b/same.fits")},
        {"url": server.url("/files/nph-download?raw=1&ref=/ti08/ji0240232.fits.gz")},
        {"file": "ki0240232.fits.bz2", "url": server.url("/files/ki0240232.fits.bz2")},  # repeated URL
    ]
    records = archive.query_archive("2MASS", "K", "161.26 -59.87", 1.0, base_url=server.list_url, **FAST)

    (query,) = server.list_queries()
    assert query == {"survey": "2MASS K", "location": "161.26 -59.87", "size": "1.32", "units": "deg", "mode": "JSON"}
    names = [r["file_name"] for r in records]
    assert len(records) == 6
    assert names[0] == "ki0240232.fits"  # .bz2 dropped: download decompresses it
    assert names[1] == "kh0240233.fits.gz"  # .gz kept: CFITSIO reads it
    assert records[0]["size"] == 1234 and records[1]["size"] is None
    assert records[0]["record"]["filesize"] == "1234"
    assert names[2].startswith("Angstrom_image-") and names[2].endswith(".fits")  # changed name: hash added
    assert names[3] != names[4] and names[3].lower() != names[4].lower()  # collisions disambiguated
    assert names[5] == "ji0240232.fits.gz"  # no 'file': named from the URL, like mArchiveExec
    for name in names:
        assert name.isascii() and "/" not in name and not name.startswith(".")
        assert archive.cache_path("/c", "2MASS", "K", name) == os.path.join("/c", "2mass", "k", name)


def test_image_list_round_trip(server, tmp_path):
    server.state.listing = [
        {"file": "a.fits", "url": server.url("/files/a.fits"), "bytes": 2880, "note": "tab\there"},
        {"file": "b.fits.gz", "url": server.url("/files/b.fits.gz")},
    ]
    records = archive.query_archive("2MASS", "J", "10.0 20.0", 0.5, base_url=server.list_url, **FAST)
    path = str(tmp_path / "images.tsv")
    archive.write_image_list(records, path)
    rows = archive.read_image_list(path)
    assert [r["file_name"] for r in rows] == ["a.fits", "b.fits.gz"]
    assert [r["size"] for r in rows] == [2880, None]
    assert rows[0]["record"]["note"] == "tab\there"
    assert rows[1]["url"] == server.url("/files/b.fits.gz")
    assert cache_listing(tmp_path) == ["images.tsv"]  # written atomically, no temp left


def test_padding_and_coordinate_detection():
    assert archive.padded_size(1.0, "2mass") == pytest.approx(1.32)
    assert archive.padded_size(1.0, "Unknown") == pytest.approx(1.0 + archive.DEFAULT_PADDING_DEG)
    assert archive.padded_size(1.0, "2MASS", padding_deg=0) == 1.0
    with pytest.raises(UserError):
        archive.padded_size(0, "2MASS")
    for location in ["161.26 -59.87", "161.26, -59.87", "10h44m00s -59d52m00s", "10:44:00 -59:52:00"]:
        assert archive.looks_like_coordinates(location), location
    for location in ["NGC 3372", "M17", "Eta Carinae", "m31"]:
        assert not archive.looks_like_coordinates(location), location


def test_unresolvable_name_suggests_coordinates(server):
    server.state.listing = {"error": "Cannot resolve object name 'NGC 99999'"}
    with pytest.raises(UserError) as caught:
        archive.query_archive("2MASS", "K", "NGC 99999", 1.0, base_url=server.list_url, **FAST)
    message = str(caught.value)
    assert "'NGC 99999' could not be resolved" in message and "lon lat" in message
    assert "Cannot resolve object name" in message


def test_names_are_sent_to_the_service(server):
    server.state.listing = [{"file": "a.fits", "url": server.url("/files/a.fits")}]
    archive.query_archive("2MASS", "K", "NGC 3372", 1.0, base_url=server.list_url, **FAST)
    assert server.list_queries()[0]["location"] == "NGC 3372"


@pytest.mark.parametrize(
    "listing, expected",
    [
        ({"error": "Invalid survey"}, "Invalid survey"),
        (b"<html>oops</html>", "not JSON"),
        ({"images": []}, "expected a JSON list"),
        ([{"file": "no-url.fits"}], "has no 'url'"),
        ([], "lists no 2MASS K images"),
    ],
)
def test_bad_service_answers_are_user_errors(server, listing, expected):
    server.state.listing = listing
    with pytest.raises(archive.ArchiveError, match=expected) as caught:
        archive.query_archive("2MASS", "K", "161.26 -59.87", 1.0, base_url=server.list_url, **FAST)
    assert isinstance(caught.value, UserError)


def test_service_errors_are_retried_then_reported(server):
    server.state.listing = [{"file": "a.fits", "url": server.url("/files/a.fits")}]
    server.state.faults[LIST_PATH] = ["500"]
    assert len(archive.query_archive("2MASS", "K", "1 2", 1.0, base_url=server.list_url, retries=1, **FAST)) == 1
    server.state.faults[LIST_PATH] = ["500", "500"]
    with pytest.raises(archive.ArchiveError, match="HTTP 500") as caught:
        archive.query_archive("2MASS", "K", "1 2", 1.0, base_url=server.list_url, retries=1, **FAST)
    assert "nph-archivelist" in str(caught.value)


def test_unreachable_service_is_a_clear_user_error():
    url = f"http://127.0.0.1:{closed_port()}/cgi-bin/ArchiveList/nph-archivelist"
    with pytest.raises(archive.ArchiveUnreachable) as caught:
        archive.query_archive("2MASS", "K", "161.26 -59.87", 1.0, base_url=url, retries=1, **FAST)
    message = str(caught.value)
    assert isinstance(caught.value, UserError)
    assert url in message and "refused" in message.lower() and "cache" in message


def test_service_url_precedence(monkeypatch):
    monkeypatch.delenv(archive.ARCHIVE_URL_ENV, raising=False)
    assert archive.archive_url() == archive.DEFAULT_ARCHIVE_URL
    monkeypatch.setenv(archive.ARCHIVE_URL_ENV, "http://127.0.0.1:9/list")
    assert archive.archive_url() == "http://127.0.0.1:9/list"
    assert archive.archive_url("http://127.0.0.1:8/cfg") == "http://127.0.0.1:8/cfg"


# ---- downloads -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["plain", "gz", "bz2"])
def test_download_forms(server, tile, tmp_path, form):
    name, (plain, gz, bz) = tile
    served = {"plain": (name + ".fits", plain), "gz": (name + ".fits.gz", gz), "bz2": (name + ".fits.bz2", bz)}
    remote, data = served[form]
    url = server.add_file(remote, data)
    dest = archive.cache_path(str(tmp_path), "2MASS", "K", archive.local_name(remote, url))
    result = archive.download(url, dest, expected_size=len(data), **FAST)
    assert result["status"] == "downloaded" and result["path"] == dest
    with open(dest, "rb") as handle:
        stored = handle.read()
    assert stored == {"plain": plain, "gz": gz, "bz2": plain}[form]  # bz2 decompressed, gz kept
    assert_valid_copy(dest, plain)
    assert cache_listing(tmp_path) == [os.path.relpath(dest, tmp_path)]


def test_cached_file_is_not_downloaded_again(server, tile, tmp_path):
    name, (plain, _, bz) = tile
    url = server.add_file(name + ".fits.bz2", bz)
    dest = archive.cache_path(str(tmp_path), "2MASS", "K", name + ".fits")
    assert archive.download(url, dest, **FAST)["status"] == "downloaded"
    assert server.requests_for(name + ".fits.bz2") == 1
    again = archive.download(url, dest, **FAST)
    assert again["status"] == "cached"
    trusted = archive.download(url, dest, validate_existing=False, **FAST)
    assert trusted["status"] == "cached"
    assert server.requests_for(name + ".fits.bz2") == 1  # no second request


def test_invalid_cached_file_is_replaced(server, tile, tmp_path):
    name, (plain, _, _) = tile
    url = server.add_file(name + ".fits", plain)
    dest = archive.cache_path(str(tmp_path), "2MASS", "K", name + ".fits")
    os.makedirs(os.path.dirname(dest))
    with open(dest, "wb") as handle:
        handle.write(plain[: len(plain) // 2])  # truncated, e.g. written by something else
    assert archive.download(url, dest, **FAST)["status"] == "downloaded"
    assert_valid_copy(dest, plain)


def test_record_download_uses_shared_cache(server, tile, tmp_path):
    name, (plain, gz, _) = tile
    server.state.listing = [{"file": name + ".fits.gz", "url": server.add_file(name + ".fits.gz", gz)}]
    cache = str(tmp_path / "cache")
    for _mosaic in ("first", "second"):
        (record,) = archive.query_archive("2MASS", "K", "83.8 -5.4", 0.3, base_url=server.list_url, **FAST)
        archive.download_record(record, cache, "2MASS", "K", **FAST)
    assert server.requests_for(name + ".fits.gz") == 1
    assert cache_listing(cache) == [os.path.join("2mass", "k", name + ".fits.gz")]


@pytest.mark.parametrize(
    "faults",
    [
        ["500", "500"],
        ["drop"],
        ["short"],
        ["truncate"],
        ["html"],
        ["html-as-fits"],
        ["slow"],
        ["500", "drop", "html"],
    ],
)
@pytest.mark.parametrize("form", ["plain", "bz2"])
def test_transient_faults_end_in_a_valid_file(server, tile, tmp_path, faults, form):
    name, (plain, _, bz) = tile
    remote = name + (".fits" if form == "plain" else ".fits.bz2")
    url = server.add_file(remote, plain if form == "plain" else bz)
    server.inject(remote, *faults)
    dest = archive.cache_path(str(tmp_path), "2MASS", "K", name + ".fits")
    result = archive.download(url, dest, retries=4, **FAST)
    assert result["status"] == "downloaded"
    assert result["retries"] == len(faults)
    assert server.requests_for(remote) == len(faults) + 1
    assert_valid_copy(dest, plain)
    assert cache_listing(tmp_path) == [os.path.relpath(dest, tmp_path)]  # no temp files left


@pytest.mark.parametrize(
    "fault, reason",
    [
        ("500", "HTTP 500"),
        ("drop", "transfer failed"),
        ("short", "Content-Length"),
        ("truncate", "truncated"),
        ("html", "other than FITS (text/html)"),
        ("html-as-fits", "'<!DOCTYPE html>"),
        ("slow", "timed out"),
    ],
)
def test_permanent_faults_raise_and_leave_nothing(server, tile, tmp_path, fault, reason):
    name, (plain, _, bz) = tile
    remote = name + ".fits.bz2"
    url = server.add_file(remote, bz)
    server.inject(remote, *[fault] * 10)
    dest = archive.cache_path(str(tmp_path), "2MASS", "K", name + ".fits")
    started = time.monotonic()
    with pytest.raises(archive.DownloadError) as caught:
        archive.download(url, dest, retries=2, **FAST)
    message = str(caught.value)
    assert url in message and reason in message, message
    assert isinstance(caught.value, UserError)
    assert server.requests_for(remote) == 3  # first try + 2 retries, no more
    assert not os.path.exists(dest)
    assert cache_listing(tmp_path) == []  # no partial, HTML or temp file anywhere
    assert time.monotonic() - started < 5


def test_stale_temp_files_are_removed(tmp_path):
    folder = tmp_path / "2mass" / "k"
    folder.mkdir(parents=True)
    old, young, image = folder / ".tmp-a.fits.h.1.0.fits", folder / ".tmp-b.fits.h.1.1.fits", folder / "c.fits"
    for path in (old, young, image):
        path.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    os.utime(image, (time.time() - 7200, time.time() - 7200))
    assert archive.remove_stale_temps(str(tmp_path), max_age_seconds=3600) == 1
    assert cache_listing(tmp_path) == [os.path.join("2mass", "k", n) for n in (".tmp-b.fits.h.1.1.fits", "c.fits")]


def test_not_found_fails_without_retries(server, tmp_path):
    url = server.url("/files/missing.fits")
    dest = str(tmp_path / "missing.fits")
    with pytest.raises(archive.DownloadError, match="HTTP 404") as caught:
        archive.download(url, dest, retries=3, **FAST)
    assert url in str(caught.value)
    assert server.requests_for("missing.fits") == 1
    assert cache_listing(tmp_path) == []


def test_wrong_expected_size_is_rejected(server, tile, tmp_path):
    name, (plain, _, _) = tile
    url = server.add_file(name + ".fits", plain)
    dest = str(tmp_path / (name + ".fits"))
    with pytest.raises(archive.DownloadError, match="image list says"):
        archive.download(url, dest, expected_size=len(plain) + 1, retries=1, **FAST)
    assert cache_listing(tmp_path) == []


def test_fits_without_celestial_wcs_is_rejected(server, tmp_path):
    buffer = io.BytesIO()
    fits.PrimaryHDU(data=np.ones((8, 8), dtype=np.float32)).writeto(buffer)
    url = server.add_file("nowcs.fits", buffer.getvalue())
    dest = str(tmp_path / "nowcs.fits")
    with pytest.raises(archive.DownloadError, match="celestial WCS|not a usable FITS image") as caught:
        archive.download(url, dest, retries=0, **FAST)
    assert url in str(caught.value)
    assert cache_listing(tmp_path) == []


def test_unreachable_download_names_url(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/files/a.fits"
    with pytest.raises(archive.DownloadError) as caught:
        archive.download(url, str(tmp_path / "a.fits"), retries=1, **FAST)
    assert url in str(caught.value) and "refused" in str(caught.value).lower()
    assert cache_listing(tmp_path) == []


def test_module_import_is_light():
    code = (
        "import sys; import mosaicflow.sources.archive; "
        "heavy = [m for m in ('requests', 'urllib3', 'astropy', 'numpy') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    scripts = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": scripts})
