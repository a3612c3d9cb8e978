"""The HTML report: its pieces (depth colours, HTML tables, the corrections plot, the rule
graph) and the whole report of a real two-mosaic run, opened in headless Chromium."""

import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from conftest import schema_defaults
from mosaicflow.reports import depthmap, qualitypage
from mosaicflow.sky import synth

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
HOSTILE = "bad <img src=x onerror=\"alert(1)\"> & 'quoted'.fits"


# ---- depth colours ------------------------------------------------------------------


def test_depth_colours_are_fixed_whatever_the_mosaic():
    shallow = np.array([[np.nan, 1, 2], [2, 1, 0]])
    deep = np.array([[1, 2, 3], [7, 12, 40]], dtype=float)
    a, b = depthmap.colourise(shallow), depthmap.colourise(deep)
    # the same depth has the same colour in both maps
    assert tuple(a[0, 1]) == tuple(b[0, 0]) == depthmap.PALETTE[0]
    assert tuple(a[0, 2]) == tuple(b[0, 1]) == depthmap.PALETTE[1]
    assert tuple(a[0, 0]) == tuple(a[1, 2]) == depthmap.UNCOVERED
    # ten and more share the last colour; every depth below differs from its neighbours
    assert tuple(b[1, 1]) == tuple(b[1, 2]) == depthmap.PALETTE[-1]
    assert len(set(depthmap.PALETTE)) == len(depthmap.PALETTE)
    assert depthmap.UNCOVERED not in depthmap.PALETTE
    labels = [label for label, _ in depthmap.legend_entries(40)]
    assert labels == ["not covered", *[str(d) for d in range(1, 10)], "10+"]
    assert [label for label, _ in depthmap.legend_entries(3)] == ["not covered", "1", "2", "3"]


def test_depth_png_has_the_map_on_top_and_a_legend_below(tmp_path):
    from PIL import Image

    depth = np.ones((40, 60))
    depth[:10, :] = 2  # FITS rows go up: the first rows are the bottom of the picture
    depth[:, :5] = np.nan
    png = str(tmp_path / "depth.png")
    depthmap.write_png(depth, png, max_depth=2)
    image = np.asarray(Image.open(png).convert("RGB"))
    assert image.shape[0] > 40  # the legend strip
    assert tuple(image[39, 30]) == depthmap.colour(2)  # bottom row of the map
    assert tuple(image[0, 30]) == depthmap.colour(1)
    assert tuple(image[20, 2]) == depthmap.UNCOVERED
    legend = image[40:]
    for depth_colour in (depthmap.colour(1), depthmap.colour(2)):
        assert (legend == depth_colour).all(axis=2).sum() > 20, "a legend box of each depth"
    assert (legend < 100).all(axis=2).sum() > 50, "legend text"


# ---- HTML -----------------------------------------------------------------------------


def test_html_table_escapes_file_names_and_aligns_numbers():
    text = qualitypage.table([("path", "file"), ("n", "count")], [{"path": HOSTILE, "n": "12.5"}], "t")
    assert "<img" not in text
    assert "bad &lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; &#x27;quoted&#x27;.fits" in text
    assert '<td class="number">12.5</td>' in text
    root = ET.fromstring(text)  # well-formed
    assert [cell.text for cell in root.iter("td")] == [HOSTILE, "12.5"]


def quality_rows():
    rows = []

    def add(section, metric, value, unit="", item=""):
        rows.append({"section": section, "item": item, "metric": metric, "value": value, "unit": unit})

    add("mosaic", "name", "m<1>")
    add("images", "used", "2", "images")
    add("images", "skipped", "1", "files")
    add("images", "projection_failed", "1", "images")
    add("skipped", "bad-input", "not FITS: <html>", item=HOSTILE)
    add("skipped", "projection-failed", "mProjectPP: error & more", item="b.fits")
    add("overlap", "status", "ok", item="a+b")
    add("overlap", "pixels", "100", "pixels", item="a+b")
    add("depth_histogram", "pixels", "90", "pixels", item="1")
    return rows


def test_quality_page_lists_unused_files_with_reasons_escaped():
    footprints = [
        {"id": "a", "x0": 0, "y0": 0, "nx": 100, "ny": 200, "slope": 0.01, "centre_level": -12.5},
        {"id": "b<", "x0": 80, "y0": 0, "nx": 100, "ny": 200, "slope": 0.02, "centre_level": 30.0},
    ]
    text = qualitypage.page(quality_rows(), footprints, 180, 200)
    assert "<img" not in text and "<html>" not in text
    assert "not FITS: &lt;html&gt;" in text and "mProjectPP: error &amp; more" in text
    assert "<title>Quality of m&lt;1&gt;</title>" in text
    assert text.count('<circle class="correction"') == 2


def test_corrections_plot_places_images_and_colours_by_level():
    footprints = [
        {"id": "low", "x0": 0, "y0": 0, "nx": 100, "ny": 100, "slope": 0.0, "centre_level": -10.0},
        {"id": "high", "x0": 100, "y0": 100, "nx": 100, "ny": 100, "slope": 0.0, "centre_level": 40.0},
    ]
    svg = ET.fromstring(qualitypage.corrections_svg(footprints, 200, 200))
    circles = {
        c.find("{http://www.w3.org/2000/svg}title").text: c for c in svg.iter("{http://www.w3.org/2000/svg}circle")
    }
    low, high = circles["low: -10"], circles["high: 40"]
    # y goes up on the mosaic and down in SVG: the image at y0 = 100 is drawn above the one at 0
    assert float(high.get("cy")) < float(low.get("cy"))
    assert float(high.get("cx")) > float(low.get("cx"))
    assert high.get("fill") == qualitypage.level_colour(40, 40) == "#b2182b"  # the scale's red end
    red, green, blue = (int(low.get("fill")[i : i + 2], 16) for i in (1, 3, 5))
    assert blue > red, "a negative correction is blue"


# ---- the whole report, in a browser ---------------------------------------------------


BROWSER_FLAGS = (
    "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
    " --disable-component-update --disable-sync --window-size=1400,1000"
)


def chromium(flags=BROWSER_FLAGS, log_requests=False):
    """A headless Chromium driven by selenium (``log_requests``: with its network log),
    or skip saying what is missing."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip(f"no headless browser: {CHROMIUM} and {CHROMEDRIVER} are needed (Debian: apt install chromium)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in flags.split():
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    if log_requests:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    return driver, profile


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    """Two mosaics at different DAG depths (a synthetic source; a folder with a bad file
    and an automatic region), run, with the per-mosaic performance target, and reported."""
    from conftest import SNAKEFILE, Workflow

    work = tmp_path_factory.mktemp("report")
    folder = work / "local"
    synth.write_field(str(work / "field"), {"columns": 2, "rows": 2, "seed": 3, "stars": 200, "nebulae": 2})
    shutil.copytree(work / "field" / "tiles", folder)
    (folder / HOSTILE).write_text("<html>not an image</html>")
    wf = Workflow(work)
    config = {
        "mosaics": {
            "alpha": {
                "source": {"type": "synthetic", "columns": 3, "rows": 2, "seed": 7, "stars": 300, "nebulae": 3},
                "region": {"center": "83.82 -5.39", "width": 0.34, "height": 0.44, "pixel_scale": 2.0},
            },
            "beta": {"source": {"type": "local", "path": str(folder)}, "region": {"auto": True}},
        }
    }
    wf.run(config=config)
    # The README's command for the per-mosaic tables and plots, exactly as written there.
    snakemake = [sys.executable, "-m", "snakemake", "-s", SNAKEFILE]
    performance = subprocess.run(
        [*snakemake, "performance", "--cores", "2", "--configfile", wf.configfile],
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert performance.returncode == 0, performance.stderr[-3000:]
    report = subprocess.run(
        [*snakemake, "--configfile", wf.configfile, "--report", "report.html"],
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    return wf


def test_run_writes_the_landing_page_and_performance(reported):
    wf = reported
    with open(wf.path("results", "summary.html"), encoding="utf-8") as handle:
        page = handle.read()
    assert "<img" not in page
    from mosaicflow.files import tables

    stages = {row["stage"]: row for row in tables.read_tsv(wf.path("results", "performance.tsv"))}
    assert {"project", "difference_fit", "coadd", "quality_report"} <= set(stages)
    from mosaicflow.files.layout import images_by_batch

    # the default projection.jobs: batch: one job per batch holding images
    batches = 0
    for name in ("alpha", "beta"):
        ids = [row["id"] for row in tables.read_tsv(wf.path("results", name, "images.tsv"))]
        batches += len(images_by_batch(ids, schema_defaults()["projection"]["batches"]))
    assert int(stages["project"]["jobs"]) == batches
    for name in ("alpha", "beta"):
        assert os.path.getsize(wf.path("results", name, "performance.png")) > 1000


def rule_graph_nodes(html):
    import json
    import re

    match = re.search(r'"name": "node-data", "values": (\[.*?\])', html)
    return [node["rule"] for node in json.loads(match.group(1))]


def test_rule_graph_shows_every_stage(reported):
    # Snakemake's own drawing: a rule appears once per DAG depth it has jobs at
    # (two mosaics here), written up for upstream in docs/upstream.md
    with open(reported.path("report.html"), encoding="utf-8") as handle:
        rules = rule_graph_nodes(handle.read())
    assert {"synthetic_field", "image_table", "region_header", "project_batch", "coadd", "all"} <= set(rules)
    assert rules.index("image_table") < rules.index("project_batch") < rules.index("coadd") < rules.index("all")


def open_result(driver, category, mosaic, path):
    """Click through the report's menu to one result and show it, as a reader would."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.XPATH, f"//span[normalize-space(text())='{category}']").click()
    driver.find_element(By.XPATH, f"//span[normalize-space(text())='{mosaic}']").click()
    row = driver.find_element(By.XPATH, f"//td[normalize-space(text())='{path}']/ancestor::tr")
    row.find_element(By.TAG_NAME, "a").click()  # the eye: show the result


def home(driver, report):
    driver.get("file://" + report)


def image_loaded(driver, element):
    return driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", element)


def test_report_in_a_browser(reported, tmp_path):
    from selenium.webdriver.common.by import By

    from mosaicflow.reports.rule_stages import STAGE_NAMES

    driver, profile = chromium()
    # Screenshots to look at: in pytest's temporary folder, or where this variable says.
    shots = os.environ.get("MOSAIC_REPORT_SCREENSHOTS") or str(tmp_path)
    os.makedirs(shots, exist_ok=True)

    def screenshot(name):
        assert driver.save_screenshot(os.path.join(shots, name)), f"no screenshot written to {shots}"

    report = reported.path("report.html")
    try:
        home(driver, report)
        # The landing page: the run's summary and the time per stage, as tables.
        summary = driver.find_element(By.ID, "summary-table")
        rows = {
            r.find_elements(By.TAG_NAME, "td")[0].text: r.text for r in summary.find_elements(By.XPATH, ".//tbody/tr")
        }
        assert set(rows) == {"alpha", "beta"}
        assert all("complete" in text for text in rows.values()), rows
        stages = driver.find_element(By.ID, "performance-table").text
        assert "project" in stages and "coadd" in stages
        # The steps a mosaic goes through, in order, laid out in rows across the page.
        flow = driver.find_element(By.ID, "stage-flow")
        boxes = flow.find_elements(By.CLASS_NAME, "stage")
        assert [box.text.split("\n")[0] for box in boxes] == STAGE_NAMES
        assert flow.size["width"] > flow.size["height"], flow.size
        assert "project_batch" in boxes[STAGE_NAMES.index("projection")].text
        screenshot("landing.png")

        # A mosaic's preview and depth map: pictures that load.
        for category, path in (("Mosaics", "results/alpha/mosaic.png"), ("Quality", "results/beta/depth.png")):
            home(driver, report)
            open_result(driver, category, path.split("/")[1], path)
            picture = driver.find_element(By.XPATH, "//img[starts-with(@src, 'data:image/png')]")
            assert image_loaded(driver, picture) > 100, path
            screenshot(os.path.basename(path).replace(".png", f"_{category}.png"))

        # The quality page of the mosaic with a bad file: the reason is in a table, escaped.
        home(driver, report)
        open_result(driver, "Quality", "beta", "results/beta/quality.html")
        driver.switch_to.frame(driver.find_element(By.TAG_NAME, "iframe"))
        unused = driver.find_element(By.ID, "not-used")
        cells = [cell.text for cell in unused.find_elements(By.TAG_NAME, "td")]
        assert any(cell.endswith("/" + HOSTILE) for cell in cells), cells
        assert "bad-input" in cells
        assert driver.find_element(By.ID, "headline").text.startswith("4 images used, 1 files skipped")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#corrections-plot circle.correction")) == 4
        summary_cells = [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "#summary td")]
        assert "rms_after_median" in summary_cells
        assert not driver.execute_script("return document.querySelectorAll('script').length")
        driver.switch_to.default_content()
        screenshot("quality_beta.png")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_one_outlying_correction_does_not_wash_the_others_out():
    footprints = [
        {"id": f"i{k}", "x0": 10 * k, "y0": 0, "nx": 10, "ny": 10, "slope": 0.0, "centre_level": level}
        for k, level in enumerate([(-1) ** k * (2.0 + 0.1 * k) for k in range(39)] + [132.7])
    ]
    text = qualitypage.corrections_svg(footprints, 400, 10)
    limit = qualitypage.colour_limit([f["centre_level"] for f in footprints])
    assert 5.5 < limit < 6  # the 95th percentile of 40 levels, not the outlier's 132.7
    svg = ET.fromstring(text[: text.index("</svg>") + len("</svg>")])
    fills = {
        c.find("{http://www.w3.org/2000/svg}title").text.split(":")[0]: c.get("fill")
        for c in svg.iter("{http://www.w3.org/2000/svg}circle")
    }
    assert fills["i39"] == "#b2182b"  # the outlier at the red end
    # the others spread over the scale instead of all being near white
    assert qualitypage.level_colour(-5.7, limit) == fills["i37"] and fills["i37"] != "#f7f7f7"
    assert "2 image(s) beyond it take the end colours" in text and "≥ " in text  # the outlier and the largest other
