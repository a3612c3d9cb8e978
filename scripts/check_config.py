#!/usr/bin/env python3
"""Check config files before a run: YAML syntax (with the line), keys and values.

    python scripts/check_config.py my.yaml [more.yaml ...]

Snakemake reports a YAML syntax error in a --configfile as "Config file is
not valid JSON or YAML", without the file or the line; this names both. The
keys and values are checked against config/schema.yaml as the workflow does,
and each mosaic's source folder and header template must exist (relative
paths are read from the current directory, as the workflow reads them).
Exit status 0 when every file is valid, 1 otherwise.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mosaicflow import UserError, config_check  # noqa: E402

SCHEMA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "config", "schema.yaml")


def problems(path):
    """What is wrong with one config file, as printable text, or None."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as error:
        return f"{path}: cannot read it ({error.strerror})"
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else path
        what = getattr(error, "problem", None) or str(error)
        return f"{where}: not valid YAML: {what}"
    if not isinstance(data, dict):
        return f"{path}: expected keys such as 'mosaics:', found {type(data).__name__}"
    try:
        config_check.validate(data, SCHEMA, path)
    except UserError as problem:
        return str(problem)
    if not data.get("mosaics") and not data.get("fields"):
        return f"{path} defines no mosaics (neither 'mosaics' nor 'fields')"
    missing = config_check.missing_paths(data.get("mosaics") or {})
    if missing:
        return "\n".join(f"{path}: {problem}" for problem in missing)
    return None


def main(paths):
    if not paths:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    found = [text for text in map(problems, paths) if text]
    for text in found:
        print(text, file=sys.stderr)
    if not found:
        print(f"{', '.join(paths)}: valid")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
