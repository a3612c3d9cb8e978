"""The HiPS of a mosaic (hips: true): its order from the pixel scale, its tiles'
layout against astropy's reproject, the pyramid, and end to end a HiPS whose
tiles read back the mosaic's pixels within the interpolation's bounds."""

import glob
import json
import os
import shutil
import threading
import time
import urllib.request

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import ICRS, SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from conftest import small_field, small_region
from hips_checks import check_read_back, read_tiles
from mosaicflow.files import layout
from mosaicflow.hips import geometry, orders, pyramid, render
from rerun_world import jobs_run

# ---- orders, batches, tile layout ------------------------------------------------------


@pytest.mark.parametrize("arcsec", [0.2, 0.5, 0.805, 1.0, 1.61, 2.0, 4.0, 10.0, 30.0])
def test_deepest_order_is_the_deepest_not_coarser_than_the_mosaic(arcsec):
    scale = arcsec / 3600
    order = orders.deepest_order(scale)
    assert orders.hips_pixel_deg(order) <= scale * (1 + 1e-9)
    assert orders.hips_pixel_deg(order - 1) > scale
    assert orders.orders(order) == list(range(3, order + 1))


def test_coarse_mosaics_still_reach_the_allsky_order():
    assert orders.deepest_order(120 / 3600) == orders.ALLSKY_ORDER
    assert orders.deepest_order(1.0 / 3600) == 9 and orders.deepest_order(2.0 / 3600) == 8


def test_batches_are_runs_of_consecutive_tiles_covering_all():
    tiles = list(range(100, 137))
    parts = orders.split(tiles, 8)
    assert len(parts) == 8 and sum(parts, []) == tiles
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert orders.split([5, 9], 8) == [[5], [9]]


def test_a_batch_holds_at_least_eight_tiles_unless_the_hips_has_fewer():
    assert orders.batch_count(1000, 8) == 8
    assert orders.batch_count(24, 8) == 3 and orders.batch_count(23, 8) == 2
    assert orders.batch_count(5, 8) == 1 and orders.batch_count(24, 1) == 1


@pytest.mark.parametrize(("order", "index"), [(6, 20000), (3, 0), (8, 786431), (5, 5000)])
def test_tile_pixels_are_where_reproject_puts_them(order, index):
    # astropy's reproject describes each tile by an HPX WCS; its pixel centres are ours
    from reproject.hips._utils import tile_header

    header = tile_header(level=order, index=index, frame=ICRS(), tile_dims=orders.TILE_WIDTH)
    header = header[0] if isinstance(header, tuple) else header
    lon, lat = geometry.tile_lonlat(order, index)
    rows, columns = np.meshgrid([0, 1, 100, 300, 511], [0, 7, 256, 511], indexing="ij")
    theirs = WCS(header).pixel_to_world(columns, rows)
    ours = SkyCoord(lon[rows, columns] * u.rad, lat[rows, columns] * u.rad, frame=ICRS())
    assert ours.separation(theirs).arcsec.max() < 1e-3
    # and reading back finds each pixel in its place
    found = geometry.tile_position(order, np.degrees(lon[rows, columns]), np.degrees(lat[rows, columns]))
    assert (found[0] == index).all() and (found[1] == rows).all() and (found[2] == columns).all()


def test_a_parent_tile_is_its_children_halved_in_place():
    # children whose values are their pixels' own right ascension: the parent must hold its own
    order, index = 7, 123456
    children = {}
    for child in range(4 * index, 4 * index + 4):
        lon, _ = geometry.tile_lonlat(order + 1, child)
        children[child] = np.degrees(lon)
    del children[4 * index + 2]  # a missing child leaves NaN
    parent = pyramid.parent(children, index)
    lon, _ = geometry.tile_lonlat(order, index)
    rows, columns = pyramid.child_place(2)
    assert np.isnan(parent[rows, columns]).all()
    finite = np.isfinite(parent)
    assert finite.sum() == 3 * 256 * 256
    assert np.abs(parent[finite] - np.degrees(lon)[finite]).max() < 1e-9 + 0.01 * orders.hips_pixel_deg(order)


def test_bilinear_is_exact_on_planes_and_nan_off_the_mosaic():
    y, x = np.mgrid[0:20, 0:30].astype(float)
    data = 3 * x - 2 * y + 5
    px, py = np.array([0.25, 12.5, 28.6, -0.4, 30.0, 3.0]), np.array([0.75, 7.2, 18.4, 3.0, 3.0, -0.6])
    values = render.bilinear(data, px, py)
    inside = slice(0, 3)
    assert np.allclose(values[inside], 3 * px[inside] - 2 * py[inside] + 5)
    assert values[3] == data[3, 0]  # within half a pixel of the edge: the edge's value
    assert np.isnan(values[4:]).all()


# ---- end to end --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hips_run(tmp_path_factory):
    from conftest import Workflow

    wf = Workflow(tmp_path_factory.mktemp("hips"))
    config = {
        "mosaics": {
            # 612 x 792 px of 2": order 8
            "equatorial": {
                "source": small_field(stars=300, nebulae=3),
                "region": small_region(pixel_scale=2.0),
                "hips": True,
                "hips_batches": 3,
            },
            # the same sky in a Galactic mosaic: the HiPS is still ICRS
            "galactic": {
                "source": small_field(stars=300, nebulae=3),
                "region": {
                    "center": "209.01 -19.38",
                    "width": 0.2,
                    "height": 0.2,
                    "pixel_scale": 1.5,
                    "frame": "galactic",
                },
                "hips": True,
                "hips_batches": 2,
            },
            "without": {"source": small_field(columns=1, rows=1), "region": small_region(width=0.1, height=0.1)},
            # two more bands of the equatorial mosaic's region, for a colour composite
            "band_g": {
                "source": small_field(stars=300, nebulae=3, seed=8),
                "region": small_region(pixel_scale=2.0),
                "hips": True,
                "hips_batches": 2,
            },
            "band_b": {
                "source": small_field(stars=300, nebulae=3, seed=9),
                "region": small_region(pixel_scale=2.0),
                "hips": True,
            },
        },
        "colors": {"rgb": {"red": "equatorial", "green": "band_g", "blue": "band_b"}},
    }
    wf.run(config=config)
    return wf


@pytest.mark.parametrize("name", ["equatorial", "galactic"])
def test_hips_reads_back_the_mosaic(hips_run, name):
    order, difference, exact_error = check_read_back(
        hips_run.path("results", name, "hips"), hips_run.path("results", name, "mosaic.fits")
    )
    noise = 2.0  # the synthetic field's noise sigma
    print(
        f"\n{name}: order {order}, {difference.size} pixels: |HiPS - mosaic| median {np.median(difference):.3f},"
        f" 99th percentile {np.percentile(difference, 99):.3f}, exact-bilinear error {exact_error:.2e} of the range"
    )
    assert np.median(difference) < noise / 4


def test_hips_of_a_real_2mass_field_reads_back(tmp_path):
    # Orion in 2MASS J: gzip-compressed tiles named .fits, the region from the set's header
    from conftest import Workflow, shared_dataset

    source = shared_dataset("2mass-m42-j-10")
    wf = Workflow(tmp_path)
    region = {"header": os.path.join(source, "region.hdr")}
    wf.run(config={"mosaics": {"m42": {"source": {"type": "local", "path": source}, "region": region, "hips": True}}})
    mosaic = wf.path("results", "m42", "mosaic.fits")
    order, difference, exact_error = check_read_back(wf.path("results", "m42", "hips"), mosaic)
    # A value read back is the mosaic's bilinear interpolation a fraction of a pixel (under
    # half of one, mostly) from the pixel's centre: it moves by that fraction of the steps
    # between neighbouring pixels. Their robust spread (the nebula's and the stars' large
    # steps do not count) is the scale of the difference, whatever the noise's correlation.
    steps = np.diff(fits.getdata(mosaic).astype(np.float64), axis=1)
    steps = steps[np.isfinite(steps)]
    spread = 1.4826 * np.median(np.abs(steps - np.median(steps)))
    print(
        f"\nm42 J: order {order}, {difference.size} pixels, neighbour steps' spread {spread:.3f}: |HiPS - mosaic|"
        f" median {np.median(difference):.3f}, 99th percentile {np.percentile(difference, 99):.3f},"
        f" exact-bilinear error {exact_error:.2e} of the range"
    )
    assert order == 9 and difference.size > 0.99 * 897 * 897
    assert np.median(difference) < spread / 4


def test_hips_turned_on_later_is_made_alone_from_the_mosaic(workflow):
    # hips: true on a mosaic already made: the HiPS's jobs alone run (nothing of the
    # mosaic is redone), and its tiles read that mosaic back
    mosaic = {
        "source": small_field(columns=2, rows=1, stars=300, nebulae=2),
        "region": small_region(width=0.25, height=0.3, pixel_scale=2.0),
    }
    workflow.run(config={"mosaics": {"m": mosaic}})
    assert not os.path.exists(workflow.path("results", "m", "hips"))
    result = workflow.run(config={"mosaics": {"m": {**mosaic, "hips": True}}})
    assert set(jobs_run(result)) == {"hips_plan", "hips_tiles", "hips_lower_orders", "hips"}
    order, difference, _ = check_read_back(
        workflow.path("results", "m", "hips"), workflow.path("results", "m", "mosaic.fits")
    )
    assert order == 8 and difference.size > 0.9 * 450 * 540  # the tiles cover 95% of the region
    assert np.median(difference) < 0.5  # noise 2: a quarter of it


@pytest.mark.parametrize("name", ["equatorial", "galactic"])
def test_orders_and_tile_counts_follow_the_mosaic(hips_run, name):
    hips = hips_run.path("results", name, "hips")
    with fits.open(hips_run.path("results", name, "mosaic.fits")) as hdus:
        data, wcs = hdus[0].data, WCS(hdus[0].header)
    scale = float(np.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix))))
    order = orders.deepest_order(scale)
    assert order == {"equatorial": 8, "galactic": 9}[name]  # 2" and 1.5" pixels
    properties = dict(
        line.split("=", 1) for line in open(os.path.join(hips, "properties"), encoding="utf-8").read().splitlines()
    )
    properties = {key.strip(): value.strip() for key, value in properties.items()}
    assert properties["hips_order"] == str(order) and properties["hips_frame"] == "equatorial"
    assert properties["hips_tile_format"] == "png fits" and properties["hips_tile_width"] == "512"
    # every tile a finite mosaic pixel falls in, and no tile without data
    y, x = np.nonzero(np.isfinite(data))
    centres = wcs.pixel_to_world(x, y).icrs
    expected = set(np.unique(geometry.tile_position(order, centres.ra.deg, centres.dec.deg)[0]).tolist())
    tiles = read_tiles(hips, order)
    assert expected <= set(tiles)
    assert all(np.isfinite(values).any() for values in tiles.values())
    # at most the tiles the mosaic's half-pixel edge reaches beyond those
    assert len(tiles) - len(expected) <= 2
    # each lower order: the parents of the order below, down to order 3
    below = set(tiles)
    for lower in range(order - 1, 2, -1):
        here = set(pyramid.tiles_in([hips], lower))
        assert here == {index // 4 for index in below}, lower
        below = here
    assert not pyramid.tiles_in([hips], 2)
    for path in glob.glob(os.path.join(hips, "Norder*", "Dir*", "*.fits")):
        assert os.path.exists(path[: -len("fits")] + "png"), path
    assert os.path.getsize(os.path.join(hips, "Norder3", "Allsky.fits")) > 0
    assert Image.open(os.path.join(hips, "Norder3", "Allsky.png")).size == (27 * 64, 29 * 64)
    from mocpy import MOC

    moc = MOC.from_fits(os.path.join(hips, "Moc.fits"))
    assert moc.max_order == order and set(moc.flatten().tolist()) == set(tiles)
    # the jobs' own folders are gone once the HiPS holds their tiles
    parts = os.listdir(hips_run.path("results", name, "hips_parts"))
    assert parts == ["plan.json"]


def test_png_tiles_show_the_fits_tiles(hips_run):
    hips = hips_run.path("results", "equatorial", "hips")
    with open(hips_run.path("results", "equatorial", "hips_parts", "plan.json"), encoding="utf-8") as handle:
        plan = json.load(handle)
    for path in sorted(glob.glob(os.path.join(hips, "Norder8", "Dir*", "*.fits")))[:3]:
        values = fits.getdata(path)
        image = np.asarray(Image.open(path[: -len("fits")] + "png"))
        level, alpha = render.grey(values.astype(np.float64), plan["cut"])
        assert (image[..., 0] == level[::-1]).all() and (image[..., 3] == alpha[::-1]).all()
        assert (alpha > 0).any() and (level[alpha > 0] > 0).any()


def read_properties(folder):
    lines = open(os.path.join(folder, "properties"), encoding="utf-8").read().splitlines()
    return {key.strip(): value.strip() for key, value in (line.split("=", 1) for line in lines)}


def test_colour_hips_is_the_bands_grey_tiles_side_by_side(hips_run):
    colour = hips_run.path(layout.colour_hips("rgb"))
    bands = {"red": "equatorial", "green": "band_g", "blue": "band_b"}
    properties = read_properties(colour)
    assert properties["dataproduct_subtype"] == "color" and properties["hips_tile_format"] == "png"
    assert properties["hips_order"] == "8" and "hips_pixel_cut" not in properties
    coloured = 0
    for order in range(3, 9):
        tiles = pyramid.tiles_in([colour], order, "png")
        greys = {c: pyramid.tiles_in([hips_run.path("results", m, "hips")], order, "png") for c, m in bands.items()}
        # every tile any band has, and no other
        assert tiles and set(tiles) == set().union(*greys.values()), order
        for index, path in tiles.items():
            image = np.asarray(Image.open(path))
            assert image.shape == (512, 512, 4)
            alpha = np.zeros((512, 512), dtype=np.uint8)
            # each channel is its band's grey PNG tile (itself the FITS tile through the
            # band's stretch: test_png_tiles_show_the_fits_tiles); black where a band has none
            for k, channel in enumerate(("red", "green", "blue")):
                if index in greys[channel]:
                    grey = np.asarray(Image.open(greys[channel][index]))
                    assert (image[..., k] == grey[..., 0]).all(), (order, index, channel)
                    alpha = np.maximum(alpha, grey[..., 3])
                else:
                    assert (image[..., k] == 0).all()
            assert (image[..., 3] == alpha).all()
            opaque = image[..., 3] > 0
            coloured += int((np.ptp(image[..., :3].astype(int), axis=2)[opaque] > 20).sum())
    # the bands differ (three synthetic skies): the tiles are not grey
    assert coloured > 10000
    assert Image.open(os.path.join(colour, "Norder3", "Allsky.png")).size == (27 * 64, 29 * 64)
    from mocpy import MOC

    deepest = set(pyramid.tiles_in([colour], 8, "png"))
    assert set(MOC.from_fits(os.path.join(colour, "Moc.fits")).flatten().tolist()) == deepest
    # made in parts like the grey HiPS: the red band's 3 batches and the lower orders
    parts = os.listdir(hips_run.path("results", "color", "benchmarks", "rgb", "hips_colour_part"))
    assert sorted(parts) == sorted([f"batch-{b}.tsv" for b in range(3)] + ["lower.tsv"])
    assert not glob.glob(hips_run.path(layout.colour_hips_part("rgb", "*")))
    # the bands' pages show it, the others' do not
    for name, shown in [("equatorial", True), ("band_b", True), ("galactic", False)]:
        with open(hips_run.path("results", name, "hips", "index.html"), encoding="utf-8") as handle:
            assert ('"colour": "/sky/color/rgb/"' in handle.read()) == shown, name


def test_only_mosaics_that_ask_have_a_hips(hips_run):
    assert not os.path.exists(hips_run.path("results", "without", "hips"))
    assert not os.path.exists(hips_run.path("results", "without", "hips_parts"))
    # the jobs: a plan, the batches, one for the lower orders, the folder; band_b asks
    # for 8 batches (the default) of its 24 tiles and gets 3, of 8 tiles each
    for name, batches in (("equatorial", 3), ("band_b", 3)):
        benchmarks = hips_run.path("results", name, "benchmarks")
        assert len(os.listdir(os.path.join(benchmarks, "hips_tiles"))) == batches, name
        assert os.path.exists(os.path.join(benchmarks, "hips_lower_orders.tsv"))


# ---- the page, in a browser that cannot reach the network -------------------------------

VIEWER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), layout.VIEWER)


def offline_chromium():
    """Headless Chromium whose every request off this machine goes to a proxy that
    refuses it (127.0.0.1 itself is never proxied), logging every request it makes."""
    from test_report import chromium

    if not os.path.exists(VIEWER):
        pytest.skip(f"the optional viewer is not installed ({VIEWER}): npm install --prefix .viewer aladin-lite@3.8.2")
    # WebGL2 (Aladin Lite needs it) in software; port 9 of this machine refuses connections
    flags = (
        "--headless --no-sandbox --use-angle=swiftshader --enable-unsafe-swiftshader --proxy-server=127.0.0.1:9"
        " --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync"
        " --window-size=1200,900"
    )
    return chromium(flags, log_requests=True)


def network_log(driver):
    """(url, status) of every request the page made since the last call (status None: no answer)."""
    sent, status = {}, {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            sent[message["params"]["requestId"]] = message["params"]["request"]["url"]
        elif message["method"] == "Network.responseReceived":
            status[message["params"]["requestId"]] = message["params"]["response"]["status"]
    return [(url, status.get(key)) for key, url in sent.items() if not url.startswith("chrome")]


def drawn_fraction(driver, element):
    """The share of the pixels of ``element``'s middle (half its width and height, clear of
    the viewer's buttons) that are not Aladin Lite's empty background."""
    import io

    shot = np.asarray(Image.open(io.BytesIO(element.screenshot_as_png)).convert("RGB")).astype(int)
    height, width = shot.shape[:2]
    shot = shot[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4]
    background = np.array([60, 60, 60])
    return float((np.abs(shot - background).sum(axis=2) > 12).mean())


def coloured_fraction(driver, element):
    """The share of the pixels of ``element``'s middle whose red, green and blue differ."""
    import io

    shot = np.asarray(Image.open(io.BytesIO(element.screenshot_as_png)).convert("RGB")).astype(int)
    height, width = shot.shape[:2]
    shot = shot[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4]
    return float((np.ptp(shot, axis=2) > 20).mean())


def test_page_browses_the_hips_offline(hips_run, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from mosaicflow.operations import monitor

    httpd = monitor.server(str(tmp_path / "no-tracking.db"), hips_run.workdir, port=0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{httpd.server_address[1]}"
    shots = os.environ.get("MOSAIC_REPORT_SCREENSHOTS") or str(tmp_path)
    os.makedirs(shots, exist_ok=True)
    # linked from the monitor (its state names each page) and from the report's landing page
    with urllib.request.urlopen(origin + "/api/state") as answer:
        pages = {m["name"]: m["hips"] for m in json.load(answer)["mosaics"]}
    assert pages == {
        "equatorial": "/sky/equatorial/",
        "galactic": "/sky/galactic/",
        "band_g": "/sky/band_g/",
        "band_b": "/sky/band_b/",
        "without": None,
    }
    with open(hips_run.path("results", "summary.html"), encoding="utf-8") as handle:
        assert 'href="http://127.0.0.1:8800/sky/equatorial/"' in handle.read()

    driver, profile = offline_chromium()
    requests = []
    try:
        driver.get(origin + "/sky/equatorial/")
        wait = WebDriverWait(driver, 30, poll_frequency=0.5)
        wait.until(lambda d: d.find_element(By.ID, "state").text == "ready")
        sky = driver.find_element(By.ID, "sky")

        def tiles_served(order):
            requests.extend(network_log(driver))
            return [url for url, status in requests if f"/Norder{order}/" in url and status == 200]

        wait.until(lambda d: tiles_served(8) and drawn_fraction(d, sky) > 0.3)
        # the colour composite of this mosaic and two others, drawn over it
        assert driver.execute_script('return aladin.getOverlayImageLayer("colour") !== null')
        wait.until(lambda d: [url for url in tiles_served(8) if "/sky/color/rgb/Norder8/" in url])
        wait.until(lambda d: coloured_fraction(d, sky) > 0.05)
        driver.save_screenshot(os.path.join(shots, "hips_opened.png"))

        # the coordinates under the cursor: the sky's centre is the mosaic's
        ActionChains(driver).move_to_element(sky).move_by_offset(1, 1).perform()
        wait.until(lambda d: d.find_element(By.ID, "where").text.startswith("RA"))
        words = driver.find_element(By.ID, "where").text.split()
        assert abs(float(words[1]) - 83.82) < 0.05 and abs(float(words[3]) + 5.39) < 0.05, words

        # pan: drag the sky half a field to the left, the view's centre moves east... of the field's centre
        before = driver.execute_script("return aladin.getRaDec()")
        ActionChains(driver).move_to_element(sky).click_and_hold().move_by_offset(-300, 0).release().perform()
        after = driver.execute_script("return aladin.getRaDec()")
        assert abs(after[0] - before[0]) > 0.05 and abs(after[1] - before[1]) < 0.02, (before, after)
        driver.save_screenshot(os.path.join(shots, "hips_panned.png"))

        # zoom out: the lower orders are drawn
        fov = driver.execute_script("return aladin.getFov()[0]")
        for _ in range(20):
            if driver.execute_script("return aladin.getFov()[0]") > 4 * fov:
                break
            ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(sky), 0, 100).perform()
            time.sleep(0.3)
        assert 4 * fov < driver.execute_script("return aladin.getFov()[0]") < 20 * fov
        wait.until(lambda d: tiles_served(6) or tiles_served(5) or tiles_served(4))
        # the mosaic, a few times smaller than the view, still drawn in its middle
        wait.until(lambda d: 0.03 < drawn_fraction(d, sky) < 0.6)
        driver.save_screenshot(os.path.join(shots, "hips_zoomed_out.png"))
        requests.extend(network_log(driver))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        httpd.shutdown()
    # nothing left this machine: every request went to the monitor, or was data inside the page
    outside = [url for url, _ in requests if not url.startswith((origin + "/", "data:", "blob:" + origin))]
    assert not outside, outside
    assert any(url.endswith("/viewer/aladin.js") for url, _ in requests)
