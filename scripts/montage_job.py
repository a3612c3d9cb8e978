"""Entry point of the workflow's shell jobs; see mosaicflow/cli.py."""

import sys

from mosaicflow.cli import main

sys.exit(main())
