"""Snakemake script: validate the raw images and write the image table."""

import logging
import os

from mosaicflow.jobs import snakejob
from mosaicflow.sources import inputs


def main(smk):
    used, skipped = inputs.build_image_table(
        smk.input.get("source"),
        os.path.dirname(smk.output.images),
        region_header_path=smk.input.get("header"),
        method=smk.params.method,
        recursive=smk.params.recursive,
        auto_frame=smk.params.frame,
        files=list(smk.input.images) if "images" in smk.input.keys() else None,
        workers=smk.threads,
    )
    log = logging.getLogger("mosaicflow")
    # Bad files first and on the terminal; the files merely outside the region or
    # not images are counted there and listed in the job's log (and skipped.tsv).
    bad = [row for row in skipped if row["kind"] in inputs.BAD_KINDS]
    others = [row for row in skipped if row["kind"] not in inputs.BAD_KINDS]
    kinds = {}
    for row in others:
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
    counted = "".join(f", {count} {kind}" for kind, count in sorted(kinds.items()))
    log.info("%d images used; %d bad files%s (all in %s)", len(used), len(bad), counted, smk.output.skipped)
    for row in bad:
        log.warning("bad file %s: %s", row["path"], row["reason"])
    if smk.log:
        with open(smk.log[0], "a", encoding="utf-8") as handle:
            handle.writelines(f"skipped ({row['kind']}) {row['path']}: {row['reason']}\n" for row in others)


snakejob.run(snakemake, main)  # noqa: F821
