"""What a folder of raw images holds, as cheap file-system facts.

A file overwritten in place keeps its name and the folder's mtime, so the
folder alone does not tell Snakemake that the image table is stale. Every
write changes a file's size, mtime or ctime (ctime cannot be set back by
``touch -d`` or ``os.utime``), and a replacement by rename changes its inode.
``state`` condenses these facts of every file into one digest that the image
table takes as a parameter: any change reruns it, and the image table then
re-reads only the files whose facts changed (``inputs``' inspection cache).
Standard library only: the workflow evaluates this while planning.
"""

import hashlib
import os


def stat_key(path):
    """The facts of one file that change whenever its content may have changed."""
    info = os.stat(path)
    return [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def state(paths):
    """A digest of the names and ``stat_key`` facts of ``paths`` (a missing file counts too)."""
    digest = hashlib.sha1()
    for path in sorted(paths):
        try:
            facts = stat_key(path)
        except OSError:
            facts = "missing"
        digest.update(f"{path}\0{facts}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()
