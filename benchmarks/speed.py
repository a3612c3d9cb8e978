#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""Speed with defaults: the workflow against Montage's serial chain and its drivers hand-parallelised.

    benchmarks/speed.py --tiles 100 300 --dense 200 --repeats 3

For each synthetic field of real-size (512 x 1024) tiles, in one run, four
whole processes in turn, A B C D A B C D ... (the machine is shared: medians
of interleaved repeats), each after the field's files were read into the page
cache, after one untimed warm-up of the workflow:

  defaults      ``snakemake --cores N`` with the workflow's default settings and target (every output)
  mosaic.fits   the same settings, target ``results/NAME/mosaic.fits`` (what the chain makes)
  chain         benchmarks/montage_chain.py: Montage's single-process chain
  hand          benchmarks/hand_parallel.py --parts N: Montage's drivers on N table partitions

``--systems mosaic.fits hand`` runs only those two, in pairs (more repeats of
the comparison that matters in the same time); the README's table needs all four.

The workflow's region is automatic, so the scripts make the same header as
it does (``--make-header``: mMakeHdr of their image table; checked to be the
workflow's byte for byte) and do the same work.

Prints wall and CPU seconds (user + system of the process tree) and the load
average of each run, the ratios to the hand-parallel script, where the time
goes stage by stage (the workflow's job seconds from its benchmark records,
Snakemake's own process's CPU, measured by benchmarks/snakemake_self.py, and
its jobs' (the rest of the tree), and a table for the README.
The work folder (a temporary one by default) is removed at the end unless
``--keep`` is given.
"""

import json
import os
import shutil
import sys
import tempfile
import time

# scale: this folder's scale benchmark (a script's own folder is first on sys.path)
from scale import SNAKEFILE, ensure_field, parallel_capacity, per_rule, run_measured, warm_page_cache

from mosaicflow.files import tables
from mosaicflow.files.layout import in_folder, mosaic_dir
from mosaicflow.files.layout import path as result_path
from mosaicflow.reference.speed import WORKFLOWS, arguments, by_stage, report

HERE = os.path.dirname(os.path.abspath(__file__))
MOSAIC = "bench"


def workflow_run(run_dir, tiles_dir, cores, target):
    """One fresh workflow run (nothing left of an earlier one); its Run and per-rule records."""
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    config = os.path.join(run_dir, "config.yaml")
    with open(config, "w", encoding="utf-8") as handle:
        json.dump(
            {"mosaics": {MOSAIC: {"source": {"type": "local", "path": tiles_dir}, "region": {"auto": True}}}}, handle
        )
    own_cpu = os.path.join(os.path.dirname(run_dir), "snakemake-cpu.json")
    command = [sys.executable, os.path.join(HERE, "snakemake_self.py"), own_cpu]
    command += ["-s", SNAKEFILE, "-d", run_dir, "--configfile", config, "--cores", str(cores)]
    if target == "mosaic.fits":
        command.append(result_path(MOSAIC, "mosaic"))
    warm_page_cache(tiles_dir)
    run = run_measured(command, run_dir, os.path.join(os.path.dirname(run_dir), "snakemake.log"))
    if run.returncode:
        sys.exit(f"snakemake failed ({run.returncode}); see {run.log}")
    with open(own_cpu, encoding="utf-8") as handle:
        own = json.load(handle)
    return run, per_rule(run_dir), own["user"] + own["system"]


def script_run(script, inputs_dir, header, work_dir, tiles_dir, *extra):
    """One run of a chain script as its own process; its Run and stage times."""
    shutil.rmtree(work_dir, ignore_errors=True)
    times = work_dir + ".json"
    command = [sys.executable, os.path.join(HERE, script), inputs_dir, header, work_dir, "--times", times, *extra]
    warm_page_cache(tiles_dir)
    run = run_measured(command, os.path.dirname(work_dir), work_dir + ".log")
    if run.returncode:
        with open(run.log, encoding="utf-8", errors="replace") as handle:
            last = handle.read()[-3000:]
        sys.exit(f"{script} failed ({run.returncode}); see {run.log}; it ends:\n{last}")
    with open(times, encoding="utf-8") as handle:
        return run, json.load(handle)


def chain_inputs(run_dir, folder):
    """The images the workflow used, linked under the workflow's names; its header's text and
    its overlap count."""
    base = os.path.join(run_dir, mosaic_dir(MOSAIC))
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for row in tables.read_tsv(in_folder(base, "images")):
        os.symlink(os.path.abspath(row["path"]), os.path.join(folder, os.path.basename(row["link"])))
    with open(in_folder(base, "region"), encoding="ascii") as handle:
        header_text = handle.read()
    overlaps = len(tables.read_ipac(in_folder(base, "overlaps")))
    return header_text, overlaps


def same_header(made, expected_text, system):
    """Stop unless a script made the workflow's header: otherwise the two did different work."""
    with open(made, encoding="ascii") as handle:
        if handle.read() != expected_text:
            sys.exit(f"{system}: mMakeHdr made {made}, which is not the workflow's region.hdr")


def measure_field(field, args, root):
    folder = os.path.join(root, field["name"])
    os.makedirs(folder, exist_ok=True)
    tiles_dir = field["tiles_dir"]
    run_dir = os.path.join(folder, "workflow")
    print(f"\n{field['name']}: warm-up run of the workflow", file=sys.stderr, flush=True)
    workflow_run(run_dir, tiles_dir, args.cores, "all")
    inputs_dir = os.path.join(folder, "inputs")
    header_text, overlaps = chain_inputs(run_dir, inputs_dir)
    images = len(os.listdir(inputs_dir))
    results = {system: [] for system in args.systems}
    for repeat in range(args.repeats):
        for system in args.systems:
            load = os.getloadavg()[0]
            if system in WORKFLOWS:
                run, rules, own_cpu = workflow_run(run_dir, tiles_dir, args.cores, system)
                stages = by_stage({rule: entry["s"] for rule, entry in rules.items()})
                jobs = sum(entry["jobs"] for entry in rules.values())
            else:
                script, extra = (
                    ("montage_chain.py", ())
                    if system == "chain"
                    else ("hand_parallel.py", ("--parts", str(args.cores)))
                )
                # the scripts make the header as the workflow's automatic region does (mMakeHdr)
                header = os.path.join(folder, f"{system}.hdr")
                work = os.path.join(folder, system)
                run, times = script_run(script, inputs_dir, header, work, tiles_dir, "--make-header", *extra)
                same_header(header, header_text, system)
                stages, jobs, own_cpu = by_stage(times), 0, 0.0
            results[system].append(
                {"wall": run.wall, "cpu": run.cpu, "load": load, "stages": stages, "jobs": jobs, "own_cpu": own_cpu}
            )
            print(
                f"  repeat {repeat + 1}, {system:12s} {run.wall:7.1f} s wall {run.cpu:7.1f} CPU-s  load {load:.2f}",
                file=sys.stderr,
                flush=True,
            )
    return {"field": field, "images": images, "overlaps": overlaps, "results": results}


def main():
    args = arguments(__doc__.splitlines()[0])
    root = args.workdir or tempfile.mkdtemp(prefix="mosaic-speed-")
    os.makedirs(root, exist_ok=True)
    finished = False
    try:
        capacity = parallel_capacity(args.cores)
        fields = [("grid", tiles) for tiles in args.tiles] + [("dense", tiles) for tiles in args.dense]
        measured = []
        for layout, tiles in fields:
            field = ensure_field(args.fields or os.path.join(root, "fields"), layout, tiles, args.seed, 20)
            measured.append(measure_field(field, args, root))
            report(measured, args, capacity)
        finished = True
    finally:
        if args.keep or not finished:
            # a failed run's logs are in it
            print(f"\nwork folder kept: {root}", file=sys.stderr)
        else:
            start = time.perf_counter()
            shutil.rmtree(root, ignore_errors=True)
            print(f"\nwork folder removed ({time.perf_counter() - start:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
