# Background matching: one difference fit per overlap (or per image:
# background.fit_jobs) of the overlaps the projected-table checkpoint found,
# the global model (mBgModel), one correction job per image.


rule difference_fit:
    input:
        plus="results/{mosaic}/projected/{plus}.fits",
        plus_area="results/{mosaic}/projected/{plus}_area.fits",
        minus="results/{mosaic}/projected/{minus}.fits",
        minus_area="results/{mosaic}/projected/{minus}_area.fits",
        header="results/{mosaic}/region.hdr",
    output:
        "results/{mosaic}/fits/{plus}+{minus}.tsv",
    log:
        "logs/{mosaic}/difference_fit/{plus}+{minus}.log",
    benchmark:
        "results/{mosaic}/benchmarks/difference_fit/{plus}+{minus}.tsv"
    priority: 20
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_ITEM_RESOURCES,
    params:
        job=MONTAGE_JOB,
        options=lambda wildcards: " ".join(
            (
                ["--level-only"]
                if setting(wildcards, "background", "model") == "level"
                else []
            )
            + (
                [
                    f"--keep-diff results/{wildcards.mosaic}/diffs/{wildcards.plus}+{wildcards.minus}.fits"
                ]
                if setting(wildcards, "background", "keep_diffs")
                else []
            )
        ),
    shell:
        "{params.job} fit --plus {input.plus:q} --minus {input.minus:q}"
        " --header {input.header:q} --out {output:q} {params.options} > {log:q} 2>&1"


rule difference_fits_by_image:
    input:
        unpack(fit_batch_inputs),
    output:
        "results/{mosaic}/fits/{image}.tsv",
    log:
        "logs/{mosaic}/difference_fit/{image}.log",
    benchmark:
        "results/{mosaic}/benchmarks/difference_fit/{image}.tsv"
    priority: 20
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_ITEM_RESOURCES,
    params:
        job=MONTAGE_JOB,
        # image ids are workflow-made ([A-Za-z0-9_-]), safe in a shell word
        minus_ids=lambda wildcards: ",".join(overlapping_later_images(wildcards)),
        folder="results/{mosaic}/projected",
        options=lambda wildcards: " ".join(
            (
                ["--level-only"]
                if setting(wildcards, "background", "model") == "level"
                else []
            )
            + (
                [f"--keep-diffs-dir results/{wildcards.mosaic}/diffs"]
                if setting(wildcards, "background", "keep_diffs")
                else []
            )
        ),
    shell:
        "{params.job} fit-image --plus {input.plus:q} --minus-ids {params.minus_ids}"
        " --projected-dir {params.folder:q} --header {input.header:q} --out {output:q}"
        " {params.options} > {log:q} 2>&1"


rule gather_fits:
    input:
        fits=fit_files,
        projected_table="results/{mosaic}/projected.tbl",
        overlaps="results/{mosaic}/overlaps.tbl",
    output:
        "results/{mosaic}/fits.tbl",
    log:
        "logs/{mosaic}/gather_fits.log",
    benchmark:
        "results/{mosaic}/benchmarks/gather_fits.tsv"
    priority: 25
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_MOSAIC_RESOURCES,
    params:
        job=MONTAGE_JOB,
        folder="results/{mosaic}/fits",
        per_image=lambda wildcards: "--per-image" if per_image_fits(wildcards) else "",
    shell:
        "{params.job} gather-fits --projected-table {input.projected_table:q}"
        " --overlaps {input.overlaps:q} --fits-dir {params.folder:q} --out {output:q}"
        " {params.per_image} --mosaic {wildcards.mosaic:q} > {log:q} 2>&1"


rule background_model:
    input:
        projected_table="results/{mosaic}/projected.tbl",
        fits="results/{mosaic}/fits.tbl",
    output:
        table="results/{mosaic}/corrections.tbl",
        by_image="results/{mosaic}/corrections.tsv",
    log:
        "logs/{mosaic}/background_model.log",
    benchmark:
        "results/{mosaic}/benchmarks/background_model.tsv"
    priority: 25
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_MOSAIC_RESOURCES,
    params:
        job=MONTAGE_JOB,
        iterations=lambda wildcards: setting(wildcards, "background", "iterations"),
        level_only=lambda wildcards: (
            "--level-only"
            if setting(wildcards, "background", "model") == "level"
            else ""
        ),
    shell:
        "{params.job} model --projected-table {input.projected_table:q} --fits {input.fits:q}"
        " --out-tbl {output.table:q} --out-tsv {output.by_image:q}"
        " --iterations {params.iterations} {params.level_only} > {log:q} 2>&1"


rule background_correct:
    input:
        image="results/{mosaic}/projected/{image}.fits",
        area="results/{mosaic}/projected/{image}_area.fits",
        corrections="results/{mosaic}/corrections.tsv",
    output:
        image=intermediate("results/{mosaic}/corrected/{image}.fits", "corrected"),
        area=intermediate("results/{mosaic}/corrected/{image}_area.fits", "corrected"),
    log:
        "logs/{mosaic}/background_correct/{image}.log",
    benchmark:
        "results/{mosaic}/benchmarks/background_correct/{image}.tsv"
    priority: 30
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_ITEM_RESOURCES,
    params:
        job=MONTAGE_JOB,
    shell:
        "{params.job} correct --projected {input.image:q} --corrections {input.corrections:q}"
        " --id {wildcards.image:q} --out {output.image:q} > {log:q} 2>&1"
