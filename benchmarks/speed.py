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

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from scale import (  # noqa: E402
    SNAKEFILE,
    ensure_field,
    parallel_capacity,
    per_rule,
    run_measured,
    warm_page_cache,
)

from mosaicflow.files import tables  # noqa: E402
from mosaicflow.reports.rule_stages import STAGE_OF_RULE  # noqa: E402

MOSAIC = "bench"
WORKFLOWS = ("defaults", "mosaic.fits")  # the workflow, two targets
SYSTEMS = (*WORKFLOWS, "chain", "hand")
# Workflow rules by stage (mosaicflow.reports.rule_stages), and the scripts'
# own steps under the stage of the rules that do the same work.
STAGE_OF = {
    **STAGE_OF_RULE,
    "overlaps": STAGE_OF_RULE["projected_table"],
    "background": STAGE_OF_RULE["background_correct"],
    "corrected_table": STAGE_OF_RULE["coadd"],
    "split": "table splits",
}
STAGES = list(dict.fromkeys(STAGE_OF.values()))


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
        command.append(f"results/{MOSAIC}/mosaic.fits")
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
    base = os.path.join(run_dir, "results", MOSAIC)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for row in tables.read_tsv(os.path.join(base, "images.tsv")):
        os.symlink(os.path.abspath(row["path"]), os.path.join(folder, os.path.basename(row["link"])))
    with open(os.path.join(base, "region.hdr"), encoding="ascii") as handle:
        header_text = handle.read()
    overlaps = len(tables.read_ipac(os.path.join(base, "overlaps.tbl")))
    return header_text, overlaps


def same_header(made, expected_text, system):
    """Stop unless a script made the workflow's header: otherwise the two did different work."""
    with open(made, encoding="ascii") as handle:
        if handle.read() != expected_text:
            sys.exit(f"{system}: mMakeHdr made {made}, which is not the workflow's region.hdr")


def by_stage(times):
    stages = {}
    for name, seconds in times.items():
        stage = STAGE_OF.get(name, name)
        stages[stage] = stages.get(stage, 0.0) + seconds
    return stages


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


def median(runs, key):
    return statistics.median(run[key] for run in runs)


def report(measured, args, capacity):
    systems = args.systems
    print(
        f"\n{os.cpu_count()} CPUs, --cores {args.cores}; medians of {args.repeats} interleaved repeats; "
        f"two processes of pure-CPU work get x{capacity[0]:.2f} (x{capacity[1]:.2f}-x{capacity[2]:.2f}) "
        "of one process's work done"
    )
    for entry in measured:
        results = entry["results"]
        print(f"\n{entry['field']['name']}: {entry['images']} tiles, {entry['overlaps']} overlaps")
        print(f"  {'':14s} {'wall s':>8s} {'min-max':>13s} {'CPU-s':>8s} {'jobs':>6s} {'loads':>s}")
        for system in systems:
            runs = results[system]
            walls = [run["wall"] for run in runs]
            loads = " ".join(f"{run['load']:.1f}" for run in runs)
            print(
                f"  {system:14s} {median(runs, 'wall'):8.1f} {min(walls):6.1f}-{max(walls):<6.1f} "
                f"{median(runs, 'cpu'):8.1f} {median(runs, 'jobs'):6.0f} {loads}"
            )
        hand = median(results["hand"], "wall")
        for system in [s for s in systems if s != "hand"]:
            ratios = [run["wall"] / other["wall"] for run, other in zip(results[system], results["hand"], strict=True)]
            print(
                f"  {system} / hand: {median(results[system], 'wall') / hand:.2f} "
                f"(pairwise median {statistics.median(ratios):.2f}); "
                f"CPU {median(results[system], 'cpu') / median(results['hand'], 'cpu'):.2f}"
            )
        print("  where the time goes, median seconds (workflow: summed job seconds; scripts: stage wall):")
        print(f"  {'stage':28s} " + " ".join(f"{system:>12s}" for system in systems))
        for stage in STAGES:
            values = [statistics.median(run["stages"].get(stage, 0.0) for run in results[system]) for system in systems]
            if any(values):
                print(f"  {stage:28s} " + " ".join(f"{value:12.2f}" for value in values))
        workflows = [s for s in systems if s in WORKFLOWS]
        own = [median(results[system], "own_cpu") for system in workflows]
        jobs_cpu = [median(results[system], "cpu") - median(results[system], "own_cpu") for system in workflows]
        if workflows:
            print(f"  {'Snakemake process (CPU-s)':28s} " + " ".join(f"{value:12.2f}" for value in own))
            print(f"  {'its jobs (CPU-s)':28s} " + " ".join(f"{value:12.2f}" for value in jobs_cpu))

    if set(systems) != set(SYSTEMS):
        return  # the README's table has all four
    print("\nFor the README:\n")
    print(
        "| field | workflow, defaults | workflow, mosaic.fits | serial chain | hand-parallel, "
        f"{args.cores} processes | defaults / hand | mosaic.fits / hand |"
    )
    print("|---|---|---|---|---|---|---|")
    for entry in measured:
        results = entry["results"]
        cells = [f"{median(results[s], 'wall'):.1f} s, {median(results[s], 'cpu'):.1f} CPU-s" for s in SYSTEMS]
        hand = median(results["hand"], "wall")
        ratios = [f"{median(results[s], 'wall') / hand:.2f}" for s in WORKFLOWS]
        name = f"{entry['images']} tiles, {entry['overlaps']} overlaps"
        if entry["field"]["layout"] == "dense":
            name += " (~6 deep)"
        print(f"| {name} | " + " | ".join(cells + ratios) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, nargs="*", default=[100, 300], help="plain fields (100 300)")
    parser.add_argument("--dense", type=int, nargs="*", default=[200], help="dense fields, ~6 deep (200)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats of the four (3)")
    parser.add_argument("--cores", type=int, default=2, help="snakemake --cores and hand-parallel parts (2)")
    parser.add_argument(
        "--systems",
        nargs="+",
        choices=SYSTEMS,
        default=list(SYSTEMS),
        help="what to run, in this order in each repeat; hand is what the ratios compare to (all four)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", help="work folder (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (fields, runs, logs)")
    parser.add_argument("--fields", help="make the fields here, kept for the next call (default: in the work folder)")
    args = parser.parse_args()
    if "hand" not in args.systems:
        parser.error("--systems must include hand: the ratios are to it")
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
