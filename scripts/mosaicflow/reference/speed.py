"""The speed comparison of benchmarks/speed.py: the systems it runs, its command line and its report.

Four systems: the workflow with its defaults (every output) and asked for
mosaic.fits alone, Montage's serial chain (``chain``) and its drivers
hand-parallelised (``hand``), to which every ratio is taken.
"""

import argparse
import os
import statistics

from ..reports.rule_stages import STAGE_OF_RULE

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


def by_stage(times):
    """Seconds per stage (``STAGE_OF``) of seconds per workflow rule or script step."""
    stages = {}
    for name, seconds in times.items():
        stage = STAGE_OF.get(name, name)
        stages[stage] = stages.get(stage, 0.0) + seconds
    return stages


def arguments(description, argv=None):
    """The command line of benchmarks/speed.py (``argv``, or the process's own)."""
    parser = argparse.ArgumentParser(description=description)
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
    args = parser.parse_args(argv)
    if "hand" not in args.systems:
        parser.error("--systems must include hand: the ratios are to it")
    return args


def median(runs, key):
    return statistics.median(run[key] for run in runs)


def report(measured, args, capacity):
    """Print each measured field's table, the ratios to ``hand`` and where the time goes; with
    all four systems, the README's table too."""
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
