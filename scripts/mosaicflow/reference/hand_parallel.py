"""Montage's drivers, hand-parallelised: what a skilled user writes instead of a workflow.

    benchmarks/hand_parallel.py INPUTS_DIR REGION_HDR WORK_DIR [--parts 2] [--make-header] [--times times.json]

mImgtbl (and mMakeHdr with --make-header); the image table split in N parts, mProjExec on each part in its own
process; mImgtbl of the projected images, mOverlaps; the difference table split
in N parts, mDiffFitExec on each; the fits tables concatenated, mBgModel; the
projected table and the corrections split in N parts (rows renumbered from 0:
mBgExec indexes corrections by ``cntr`` and crashes on a larger one), mBgExec on
each; mImgtbl of the corrected images, mAdd. Workers start with ``spawn``
(forked MontagePy workers died at random). Parts are contiguous blocks of
rows, so the concatenated fits table has the serial chain's row order and the
mosaic the serial chain's bytes.
"""

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

from ..files import tables
from ..files.atomic import write_text
from ..montage.per_item import check_status, load_montage
from .chain import StageTimer, add_corrected, background_model, image_table, region_header, work_folder


def _call(name, args, kwargs):
    """One MontagePy call in a worker; its result dict, ``msg`` decoded."""
    result = getattr(load_montage(), name)(*args, **kwargs)
    return {
        key: value.decode("utf-8", "replace") if isinstance(value, bytes) else value for key, value in result.items()
    }


def _warm():
    load_montage()


def split_table(source, targets, renumber=None):
    """Write the data rows of the IPAC table ``source`` in len(targets) contiguous
    blocks, each under the header lines; return the rows of each block (dicts,
    as read from ``source``).

    With ``renumber`` (a column name) each block's rows get that column
    rewritten as 0, 1, ... (``tables.with_cell``).
    """
    with open(source, encoding="utf-8", errors="replace") as handle:
        lines = handle.read().splitlines()
    head = [line for line in lines if line.startswith(("\\", "|"))]
    data = [line for line in lines if line.strip() and not line.startswith(("\\", "|"))]
    spans = tables._column_spans(next(line for line in head if line.startswith("|")))
    size, extra = divmod(len(data), len(targets))
    blocks, start = [], 0
    for number, target in enumerate(targets):
        end = start + size + (number < extra)
        block = data[start:end]
        start = end
        blocks.append([{name: line[a:b].strip() for name, a, b in spans} for line in block])
        if renumber:
            column = next(span for span in spans if span[0] == renumber)
            block = [tables.with_cell(line, column, row) for row, line in enumerate(block)]
        write_text(target, "\n".join(head + block) + "\n")
    return blocks


def concatenate_tables(sources, target):
    """The header lines of the first IPAC table, then the data rows of all, in order."""
    write_text(target, tables.concatenate_ipac(sources))


def _corrections_for(parts_rows, corrections_path, targets):
    """Write each part's corrections with ids renumbered to the part's row numbers."""
    with open(corrections_path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    head = [line for line in lines if line.startswith(("\\", "|"))]
    by_id = {}
    spans = tables._column_spans(next(line for line in head if line.startswith("|")))
    for line in lines:
        if line.strip() and not line.startswith(("\\", "|")):
            by_id[line[spans[0][1] : spans[0][2]].strip()] = line
    for rows, target in zip(parts_rows, targets, strict=True):
        block = []
        for number, row in enumerate(rows):
            line = by_id.get(row["cntr"])
            if line is not None:
                block.append(tables.with_cell(line, spans[0], number))
        write_text(target, "\n".join(head + block) + "\n")


def run_hand_parallel(inputs_dir, names, header, work_dir, iterations, parts=2, level_only=False, make_header=False):
    """Run the drivers on ``names`` (files in ``inputs_dir``) in ``parts`` processes;
    return stage times (seconds). Writes ``work_dir/mosaic.fits`` (and ``header``
    first with ``make_header``)."""
    montage = load_montage()
    path = work_folder(work_dir)
    timer = StageTimer()
    numbered = lambda stem: [path(f"{stem}.{k}.tbl") for k in range(parts)]  # noqa: E731

    def in_parallel(stage, name, calls):
        start = time.perf_counter()
        results = list(pool.map(_call, [name] * len(calls), *zip(*calls, strict=True)))
        timer.add(stage, time.perf_counter() - start)
        for result in results:
            check_status(result, name)
        return results

    with ProcessPoolExecutor(parts, mp_context=multiprocessing.get_context("spawn")) as pool:
        # Start the workers (and import MontagePy in them) before the clock runs
        # for the first parallel stage, while this process makes the image table.
        warm = [pool.submit(_warm) for _ in range(parts)]
        image_table(montage, timer, inputs_dir, names, path)
        region_header(montage, timer, path, header, make_header)
        for future in warm:
            future.result()
        start = time.perf_counter()
        split_table(path("raw.tbl"), numbered("raw"))
        timer.add("split", time.perf_counter() - start)
        results = in_parallel(
            "project",
            "mProjExec",
            [((inputs_dir, table, header), {"projdir": path("projected")}) for table in numbered("raw")],
        )
        if any(int(result["failed"]) for result in results):
            raise RuntimeError(f"mProjExec: {results}")
        timer.timed("projected_table", lambda: montage.mImgtbl(path("projected"), path("projected.tbl")), "mImgtbl")
        timer.timed("overlaps", lambda: montage.mOverlaps(path("projected.tbl"), path("diffs.tbl")), "mOverlaps")
        start = time.perf_counter()
        split_table(path("diffs.tbl"), numbered("diffs"))
        timer.add("split", time.perf_counter() - start)
        in_parallel(
            "difference_fit",
            "mDiffFitExec",
            [
                ((path("projected"), diffs, header, path("diffs"), fits), {"levelOnly": level_only})
                for diffs, fits in zip(numbered("diffs"), numbered("fits"), strict=True)
            ],
        )
        start = time.perf_counter()
        concatenate_tables(numbered("fits"), path("fits.tbl"))
        timer.add("split", time.perf_counter() - start)
        background_model(montage, timer, path, iterations, level_only)
        start = time.perf_counter()
        rows = split_table(path("projected.tbl"), numbered("projected"), renumber="cntr")
        _corrections_for(rows, path("corrections.tbl"), numbered("corrections"))
        timer.add("split", time.perf_counter() - start)
        in_parallel(
            "background",
            "mBgExec",
            [
                ((path("projected"), images, corrections, path("corrected")), {})
                for images, corrections in zip(numbered("projected"), numbered("corrections"), strict=True)
            ],
        )
    add_corrected(montage, timer, path, header)
    return timer.times
