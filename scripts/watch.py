"""Watch the config's local source folders and run the workflow when new images settle.

    python scripts/watch.py --configfile my.yaml [-d WORKDIR] [--settle 60] [--poll 5] [-- SNAKEMAKE ARGS]

Snakemake runs with ``--profile profiles/local`` unless other arguments follow ``--``.
"""

import argparse
import os
import sys

from mosaicflow.operations import watch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SNAKEFILE = os.path.join(REPO, "Snakefile")
DEFAULT_ARGS = ["--profile", os.path.join(REPO, "profiles", "local")]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    extra = DEFAULT_ARGS
    if "--" in argv:
        argv, extra = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    parser = argparse.ArgumentParser(
        description=__doc__.strip().splitlines()[0],
        usage="%(prog)s --configfile FILE [-d WORKDIR] [--settle S] [--poll S] [-- SNAKEMAKE ARGS ...]",
        epilog="Arguments after -- are Snakemake's, given to every run instead of the default "
        "--profile profiles/local (e.g. -- --profile profiles/htcondor).",
    )
    parser.add_argument("--configfile", required=True, help="the workflow config whose local sources are watched")
    parser.add_argument("-d", "--directory", default=".", help="the working directory (snakemake -d)")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds without changes before a run (60)")
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between looks at the folders (5)")
    args = parser.parse_args(argv)
    workdir = os.path.abspath(args.directory)
    configfile = os.path.abspath(args.configfile)
    command = watch.snakemake_command(SNAKEFILE, workdir, configfile, extra)
    watcher = watch.Watcher(configfile, workdir, command, settle=args.settle, poll=args.poll)
    watch.install_signal_handlers(watcher)
    try:
        return watcher.watch()
    except watch.config_problems() as problem:
        print(f"watch: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
