"""results/summary.tsv from what a run planned and did (mosaicflow.reports.summary)."""

import os
import time

from mosaicflow.files import tables
from mosaicflow.reports import summary


def state(outputs, undone=0, logs=()):
    job_state = summary.JobState()
    job_state.outputs.update(outputs)
    job_state.undone = undone
    job_state.undone_logs.extend(logs)
    return job_state


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def test_statuses(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    started = time.time() - 1
    done = summary.mosaic_outputs("done")
    for path in done:
        write(path, "x")
    write("results/done/images.tsv", "id\nA\nB\n")
    write("results/done/failed_images.tsv", "id\tpath\treason\n")
    partial = summary.mosaic_outputs("partial")
    write("results/partial/failed_images.tsv", "id\tpath\treason\nB\tb.fits\tboom\n")
    write("results/partial/images.tsv", "id\nA\nB\n")
    write("logs/broken/project/x.log", "some output\nerror: mProjectPP failed\n")
    write("logs/color/rgb2.log", "error: mViewer failed\n")
    states = {
        "done": state(done),
        "partial": state(partial),
        "broken": state(summary.mosaic_outputs("broken"), undone=3, logs=["logs/broken/project/x.log"]),
        "stopped": state(summary.mosaic_outputs("stopped"), undone=2, logs=["logs/stopped/coadd.log"]),
        "elsewhere": None,
        "half": state(summary.mosaic_outputs("half")[:1]),
    }
    colours = {
        "rgb": state(summary.colour_outputs("rgb")),
        "rgb2": state(summary.colour_outputs("rgb2"), 1, ["logs/color/rgb2.log"]),
    }
    rows = {r["name"]: r for r in summary.write_summary(states, colours, started)}
    assert rows["done"]["status"] == "complete" and rows["done"]["images_used"] == 2
    assert rows["partial"]["status"] == "partial" and "1 of 2 images failed" in rows["partial"]["reason"]
    assert rows["broken"]["status"] == "failed"
    assert rows["broken"]["reason"] == "logs/broken/project/x.log: mProjectPP failed"
    assert rows["stopped"]["status"] == "incomplete"
    assert rows["elsewhere"]["status"] == rows["half"]["status"] == "not-checked"
    assert "mosaic.png" in rows["half"]["reason"]
    # a composite's reason comes from its own jobs' logs only (not from rgb2.log)
    assert rows["rgb"]["status"] == "complete" and rows["rgb"]["reason"] == ""
    assert rows["rgb2"]["status"] == "failed" and "mViewer failed" in rows["rgb2"]["reason"]
    on_disk = {r["name"]: r["status"] for r in tables.read_tsv("results/summary.tsv")}
    assert on_disk == {name: row["status"] for name, row in rows.items()}
    # at the start of a run: work to do is "running" (what a killed run leaves)
    rows = {r["name"]: r for r in summary.write_summary(states, colours, started, running=True)}
    assert rows["broken"]["status"] == rows["stopped"]["status"] == "running"
    assert rows["done"]["status"] == "complete"


def test_an_old_log_is_not_this_runs_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write("logs/m/coadd.log", "error: from an earlier run\n")
    old = time.time() - 100
    os.utime("logs/m/coadd.log", (old, old))
    rows = summary.write_summary({"m": state(summary.mosaic_outputs("m"), 1, ["logs/m/coadd.log"])}, {}, old + 50)
    assert rows[0]["status"] == "incomplete"


def test_a_mosaic_its_quality_report_calls_broken_is_broken_not_complete(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outputs = summary.mosaic_outputs("flat")
    for path in outputs:
        write(path, "x")
    write("results/flat/images.tsv", "id\nA\n")
    verdict = "a seam of 9.1 noise units between A and B after matching"
    rows = [
        {"section": "verdict", "item": "", "metric": "status", "value": "broken", "unit": ""},
        {"section": "verdict", "item": "", "metric": "reason", "value": verdict, "unit": ""},
    ]
    tables.write_tsv("results/flat/quality.tsv", ["section", "item", "metric", "value", "unit"], rows)
    (row,) = summary.write_summary({"flat": state(outputs)}, {}, time.time() - 1)
    assert row["status"] == "broken"
    assert row["reason"] == f"{verdict} (see results/flat/quality.html)"
