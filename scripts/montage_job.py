"""Entry point of the workflow's shell jobs; see mosaicflow/jobs/cli.py."""

import sys

from mosaicflow.jobs.cli import main

sys.exit(main())
