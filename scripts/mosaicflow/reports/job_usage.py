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


def own_peak_kib():
    """This process's peak resident memory since it started its program, in KiB.

    Linux's ``ru_maxrss`` also counts the copy of the parent it was forked
    from, before ``exec``: a job started by a large process would report that
    process's size. ``VmHWM`` in /proc/self/status is the peak of its own
    memory only; ``ru_maxrss`` where there is no /proc.
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for text in status:
                if text.startswith("VmHWM:"):
                    return int(text.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def line():
    """``job usage: cpu_s=… max_rss_mb=…`` for this process and the children it has waited for.

    ``max_rss_mb`` is the largest single process's peak, not a sum over
    processes that ran at once. A child's ``ru_maxrss`` can include what it
    shared with this process when forked, which is never more than this
    process's own peak, so the largest of them stays right.
    """
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    peak_mb = max(own_peak_kib(), children.ru_maxrss) / 1024
    return f"{LINE_PREFIX} cpu_s={cpu:.3f} max_rss_mb={peak_mb:.1f}"


def read(log_path):
    """{"cpu_s": float, "max_rss_mb": float} from the last usage line of a job's log, or None
    (no log, a job that failed or predates the line)."""
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
