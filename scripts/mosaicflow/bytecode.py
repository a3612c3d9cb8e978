"""Compile this package's modules once per run instead of once per job.

Every per-image and per-overlap job imports a few of these modules. Where
Python does not write bytecode itself (PYTHONDONTWRITEBYTECODE=1, which some
sites and containers set, or a code folder the user cannot write to), each of
those hundreds of jobs compiled them again: ~8 ms of a ~70 ms job. The
Snakefile calls ``ensure`` once; ``py_compile`` writes the cache files even
when PYTHONDONTWRITEBYTECODE is set, and Python reads existing ones either way.
"""

import importlib.util
import os

_HEADER = 16  # magic, flags, source mtime, source size (PEP 552)


def is_fresh(source, cached):
    """True if ``cached`` is the timestamp-checked bytecode of ``source`` as it is now."""
    try:
        stat = os.stat(source)
        with open(cached, "rb") as handle:
            header = handle.read(_HEADER)
    except OSError:
        return False
    expected = (
        importlib.util.MAGIC_NUMBER
        + (0).to_bytes(4, "little")
        + (int(stat.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
        + (stat.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    )
    return header == expected


def ensure(package_dir):
    """Write missing or stale bytecode of the modules in ``package_dir``.

    Returns the modules that could not be compiled to a cache file (a
    read-only install); their jobs compile in memory, as before. Run
    ``python -m compileall`` on such an install once to avoid that.
    """
    not_written = []
    for name in sorted(os.listdir(package_dir)):
        if not name.endswith(".py"):
            continue
        source = os.path.join(package_dir, name)
        cached = importlib.util.cache_from_source(source)
        if is_fresh(source, cached):
            continue
        import py_compile  # ~9 ms to import, needed only when a module changed

        try:
            py_compile.compile(
                source,
                cfile=cached,
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
            )
        except (OSError, py_compile.PyCompileError):
            not_written.append(name)
    return not_written
