"""The live web monitor of tracked runs (see the README, "Operating it").

python scripts/monitor.py [--port 8800] [--host 127.0.0.1] [-d WORKDIR] [--db DATABASE]
"""

import argparse
import os
import signal
import sys

import yaml

from mosaicflow.operations import monitor, tracking

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HTCONDOR_PROFILE = os.path.join(REPO, "profiles", "htcondor", "config.yaml")


def condor_jobdir():
    """The HTCondor profile's job folder (each job's .out/.err name carries its cluster)."""
    with open(HTCONDOR_PROFILE, encoding="utf-8") as handle:
        return yaml.safe_load(handle).get("htcondor-jobdir")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    parser.add_argument("--port", type=int, default=8800, help="port (0: any free one; the URL is printed)")
    parser.add_argument("-d", "--directory", default=".", help="the runs' working directory (snakemake -d)")
    parser.add_argument(
        "--db", default=None, help="the tracking database (default: the snkmt logger's own, as the profiles use it)"
    )
    args = parser.parse_args(argv)
    database = args.db or tracking.default_database()
    httpd = monitor.server(database, args.directory, args.host, args.port, condor_jobdir())
    host, port = httpd.server_address[:2]
    print(f"Monitor on http://{host}:{port}/ (database {database}, working directory {httpd.workdir})", flush=True)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    print("Monitor stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
