"""The operating layer's small parts: per-field views of tracked jobs, the HTCondor
cluster of a job, and the watcher's view of a folder."""

import os
import re
import time

from astropy.io import fits

from conftest import REPO
from mosaicflow.operations import monitor, tracking, watch
from mosaicflow.sky import synth


def jobs_of(*specs):
    """Tracked jobs as tracking.jobs gives them, from (rule, mosaic, state, priority)."""
    return [
        {"rule": rule, "stage": tracking.STAGE_OF_RULE.get(rule, rule), "mosaic": mosaic, "state": state, "priority": p}
        for rule, mosaic, state, p in specs
    ]


def test_every_rule_of_the_workflow_has_a_stage():
    rules_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "rules")
    declared = set()
    for name in os.listdir(rules_dir):
        with open(os.path.join(rules_dir, name), encoding="utf-8") as handle:
            declared.update(re.findall(r"^(?:rule|checkpoint) (\w+):", handle.read(), re.MULTILINE))
    per_mosaic = declared - {"performance", "performance_summary", "color_composite"}
    assert per_mosaic <= set(tracking.STAGE_OF_RULE), per_mosaic - set(tracking.STAGE_OF_RULE)


def test_mosaic_view_counts_states_and_finds_the_furthest_stage():
    view = tracking.mosaic_view(
        jobs_of(
            ("image_table", "a", "SUCCESS", 5),
            ("project", "a", "SUCCESS", 10),
            ("project", "a", "RUNNING", 10),
            ("difference_fit", "a", "RUNNING", 20),
            ("project", "b", "ERROR", 10),
            ("all", None, "RUNNING", 0),
        )
    )
    assert set(view) == {"a", "b"}
    a = view["a"]
    assert (a["done"], a["running"], a["failed"], a["stage"], a["priority"]) == (2, 2, 0, "difference fits", 20)
    assert (view["b"]["failed"], view["b"]["stage"], view["b"]["priority"]) == (1, "projection", None)


def test_field_states():
    idle = {"done": 0, "running": 0, "failed": 0}
    assert monitor._field_state(idle, {"status": "running"}, run_active=True) == "queued"
    assert monitor._field_state(idle | {"running": 1}, {"status": "running"}, run_active=True) == "running"
    assert monitor._field_state(idle | {"done": 9}, {"status": "complete"}, run_active=True) == "done"
    assert monitor._field_state(idle | {"done": 3, "failed": 1}, {"status": "running"}, run_active=True) == "failed"
    assert monitor._field_state(idle, {"status": "failed"}, run_active=False) == "failed"
    # A killed run leaves "running" in the summary: with no live run it is not queued.
    assert monitor._field_state(idle, {"status": "running"}, run_active=False) == "running"
    assert monitor._field_state(idle, {"status": "incomplete"}, run_active=False) == "incomplete"


def test_condor_cluster_is_read_from_the_executors_output_names(tmp_path):
    # The HTCondor executor names each job's output RULE/RULE-JOBID_CLUSTER.err.
    folder = tmp_path / "project"
    folder.mkdir()
    old, new = folder / "project-7_1041.err", folder / "project-7_2093.err"
    old.write_text("")
    new.write_text("")
    (folder / "project-17_2094.err").write_text("")
    now = time.time()
    os.utime(old, (now - 3600, now - 3600))  # the same job id in an earlier run
    started = tracking._time(time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now - 60)))
    assert tracking.condor_cluster(str(tmp_path), {"rule": "project", "jobid": 7, "started": started}) == "2093"
    assert tracking.condor_cluster(str(tmp_path), {"rule": "project", "jobid": 8, "started": started}) is None
    assert tracking.condor_cluster(None, {"rule": "project", "jobid": 7, "started": started}) is None


def test_a_grouped_jobs_condor_cluster_is_its_groups(tmp_path):
    # A group's Condor job is GROUP_RULE/GROUP_RULE-UUID_CLUSTER.err; its Snakemake names its members.
    folder = tmp_path / "per_image_projection_project"
    folder.mkdir()
    header = (
        "  Command: .../snakemake/__main__.py --snakefile /w/Snakefile --target-jobs "
        "project:mosaic=m,image=a-0000000a project:mosaic=m,image=b-0000000b --allowed-rules project --cores 2\n"
    )
    (folder / "per_image_projection_project-2f1c-9e_31.err").write_text(header)
    other = header.replace("a-0000000a", "c-0000000c").replace("b-0000000b", "d-0000000d")
    (folder / "per_image_projection_project-77aa-01_32.err").write_text(other)
    now = time.time()
    started = tracking._time(time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now - 60)))

    def job(image):
        return {"rule": "project", "jobid": 5, "started": started, "wildcards": {"mosaic": "m", "image": image}}

    assert tracking.condor_cluster(str(tmp_path), job("b-0000000b")) == "31"
    assert tracking.condor_cluster(str(tmp_path), job("c-0000000c")) == "32"
    assert tracking.condor_cluster(str(tmp_path), job("e-0000000e")) is None


def test_log_tail_keeps_the_last_lines(tmp_path):
    log = tmp_path / "job.log"
    log.write_text("".join(f"line {n}\n" for n in range(100)))
    tail = tracking.log_tail(str(log), lines=3)
    assert tail == "line 97\nline 98\nline 99"
    assert tracking.log_tail(str(tmp_path / "missing.log")) == ""


def test_snapshot_sees_new_changed_and_removed_files_but_not_hidden_ones(tmp_path):
    raw = tmp_path / "raw"
    config = tmp_path / "config.yaml"
    config.write_text("mosaics: {}\n")
    folders = {str(raw): False}
    missing, count = watch.snapshot(folders, [str(config)])
    assert count == 0
    raw.mkdir()
    (raw / "a.fits").write_bytes(b"x" * 2880)
    first, count = watch.snapshot(folders, [str(config)])
    assert count == 1 and first != missing
    (raw / ".a.fits.part").write_bytes(b"partial")  # a copy in progress
    assert watch.snapshot(folders, [str(config)])[0] == first
    # not an image, but listed in skipped.tsv: the image table runs again
    (raw / "notes.txt").write_text("not an image")
    with_notes, count = watch.snapshot(folders, [str(config)])
    assert count == 1 and with_notes != first
    (raw / "a.fits").write_bytes(b"y" * 5760)
    changed = watch.snapshot(folders, [str(config)])[0]
    assert changed != with_notes
    config.write_text("mosaics: {a: {}}\n")
    assert watch.snapshot(folders, [str(config)])[0] != changed


def test_locked_means_a_lock_file_in_snakemakes_folder(tmp_path):
    assert not tracking.locked(str(tmp_path))
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    assert not tracking.locked(str(tmp_path))
    (locks / "0.input.lock").write_text("")
    assert tracking.locked(str(tmp_path))


def test_a_config_broken_while_edited_keeps_the_folders_watched(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "mosaics:\n  m: {source: {type: local, path: raw}, region: {center: '1 2', width: 0.1, height: 0.1}}\n"
    )
    said = []
    watcher = watch.Watcher(str(config), str(tmp_path), ["true"], settle=0, poll=0, say=said.append)
    watcher._sources()
    watcher.seen = None
    assert watcher.folders == {str(tmp_path / "raw"): False}
    for broken in ("mosaics: [unclosed\n", "mosaics:\n  m: {source: {type: local}}\n"):
        config.write_text(broken)
        watcher._look()
        assert watcher.folders == {str(tmp_path / "raw"): False}
        assert said[-2].startswith("config not usable"), said


def test_a_rerun_whose_checkpoint_shrank_the_plan_is_tracked_as_success(workflow, tmp_path):
    # A touched tile reruns the image table (a checkpoint): Snakemake first plans
    # every later job, the table comes out the same, and a few jobs run.
    truth = synth.make_truth({"columns": 3, "rows": 2, "tile_width": 128, "tile_height": 256, "stars": 200, "seed": 3})
    os.makedirs(workflow.path("raw"))
    for tile in truth["tiles"]:
        header, data = synth.render_tile(tile, truth)
        fits.PrimaryHDU(data, header).writeto(workflow.path("raw", tile["name"] + ".fits"))
    config = {"mosaics": {"field": {"source": {"type": "local", "path": "raw"}, "region": {"auto": True}}}}
    database = str(tmp_path / "tracking.db")
    tracked = ("--profile", os.path.join(REPO, "profiles", "local"), "--logger-snkmt-db", database)
    workflow.run(*tracked, config=config)
    os.utime(workflow.path("raw", truth["tiles"][0]["name"] + ".fits"))
    result = workflow.run(*tracked)
    assert re.search(r"\n([1-9]) jobs done\n", result.stdout + result.stderr)

    runs = tracking.runs(tracking.connect(database), tracking.Index(workflow.workdir))
    assert [run["status"] for run in runs] == ["SUCCESS", "SUCCESS"], runs
    rerun = runs[0]
    assert rerun["finished"] == rerun["total"] < runs[1]["total"], runs
