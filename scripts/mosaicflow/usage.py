"""A finished job's own CPU seconds and peak memory, as one line of its log.

Snakemake's benchmark records sample a job's processes (every 0.5 s for its
first 15 s, then every 30 s), so a long job's CPU after the last sample is
missing and its peak memory can fall between samples. The job itself knows
both exactly when it ends (``getrusage`` of its process and of the children
it waited for): it writes them as ``LINE_PREFIX ...`` at the end of its log,
and the per-job accounting (``performance``) reads them back. Standard
library only.
"""

import os
import resource

LINE_PREFIX = "job usage:"
# The usage line is printed last, but C libraries' buffered output can land
# after it; a job's log can be long (one line per image): read its end only.
TAIL_BYTES = 65536


def line():
    """``job usage: cpu_s=… max_rss_mb=…`` for this process and the children it has waited for.

    ``max_rss_mb`` is the largest single process's peak (Linux's ``ru_maxrss``,
    in KiB), not a sum over processes that ran at once.
    """
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    peak_mb = max(own.ru_maxrss, children.ru_maxrss) / 1024
    return f"{LINE_PREFIX} cpu_s={cpu:.3f} max_rss_mb={peak_mb:.1f}"


def read(log_path):
    """{"cpu_s": float, "max_rss_mb": float} from the last usage line of a job's log, or None
    (no log, a job that failed or predates the line)."""
    if log_path is None:
        return None
    try:
        with open(log_path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - TAIL_BYTES))
            tail = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    for text in reversed(tail.splitlines()):
        if text.startswith(LINE_PREFIX):
            try:
                fields = dict(item.split("=", 1) for item in text[len(LINE_PREFIX) :].split())
                return {"cpu_s": float(fields["cpu_s"]), "max_rss_mb": float(fields["max_rss_mb"])}
            except (KeyError, ValueError):
                return None
    return None
