#!/usr/bin/env python3
"""Check config files before a run: YAML syntax (with the line), keys and values.

    python scripts/check_config.py my.yaml [more.yaml ...]

Snakemake reports a YAML syntax error in a --configfile as "Config file is
not valid JSON or YAML", without the file or the line; this names both. The
config is loaded as the workflow loads it (mosaicflow.config.loader: the
schema, the short forms, the combinations refused), and each mosaic's source
folder and header template must exist (relative paths are read from the
current directory, as the workflow reads them).
Exit status 0 when every file is valid, 1 otherwise.
"""

import sys

from mosaicflow import UserError
from mosaicflow.config import loader, validation


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
        loaded = loader.load(data, path)
    except UserError as problem:
        return str(problem)
    missing = validation.missing_paths(loaded.mosaics)
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
