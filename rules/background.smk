# Background matching: one difference-fit job per overlap, per image or per
# batch of images (background.fit_jobs) of the overlaps the projected-table checkpoint found,
# the global model (mBgModel, or the direct solve: background.solver), one
# correction job per image.


rule difference_fit:
    input:
        unpack(overlap_projections),
    output:
        result("fit"),
    log:
        log_file("difference_fit", "{plus}+{minus}"),
    benchmark:
        benchmark_file("difference_fit", "{plus}+{minus}")
    priority: 20
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_ITEM_RESOURCES,
    params:
        job=MONTAGE_JOB,
        plus=lambda wildcards: projected_path(wildcards, wildcards.plus),
        minus=lambda wildcards: projected_path(wildcards, wildcards.minus),
        options=lambda wildcards: " ".join(
            (
                ["--level-only"]
                if setting(wildcards, "background", "model") == "level"
                else []
            )
            + [median_option(wildcards)]
        ),
    shell:
        "{params.job} fit --plus {params.plus:q} --minus {params.minus:q}"
        " --header {input.header:q} --out {output:q} {params.options} > {log:q} 2>&1"


rule difference_fits_by_image:
    input:
        unpack(fit_batch_inputs),
    output:
        result("image_fits"),
    log:
        log_file("difference_fit", "{image}"),
    benchmark:
        benchmark_file("difference_fit", "{image}")
    priority: 20
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_ITEM_RESOURCES,
    params:
        job=MONTAGE_JOB,
        # image ids are workflow-made ([A-Za-z0-9_-]), safe in a shell word
        plus=lambda wildcards: projected_path(wildcards, wildcards.image),
        minus_ids=lambda wildcards: ",".join(overlapping_later_images(wildcards)),
        folder=result("projected_dir"),
        options=fit_options,
    shell:
        "{params.job} fit-image --plus {params.plus:q} --minus-ids {params.minus_ids}"
        " --projected-dir {params.folder:q} --header {input.header:q} --out {output:q}"
        " {params.options} > {log:q} 2>&1"


rule difference_fits_by_batch:
    input:
        unpack(fit_batch_files),
    output:
        result("batch_fits"),
    log:
        log_file("difference_fit", "batch-{batch}"),
    benchmark:
        benchmark_file("difference_fit", "batch-{batch}")
    priority: 20
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_ITEM_RESOURCES,
    params:
        job=MONTAGE_JOB,
        batches=lambda wildcards: setting(wildcards, "background", "fit_batches"),
        overlaps=lambda wildcards: current_projected_table(wildcards.mosaic).overlaps,
        pairs=fit_batch_pairs_digest,
        folder=result("projected_dir"),
        options=fit_options,
    shell:
        "{params.job} fit-batch --batch {wildcards.batch} --batches {params.batches}"
        " --overlaps {params.overlaps:q} --projected-dir {params.folder:q}"
        " --header {input.header:q} --out {output:q} {params.options} > {log:q} 2>&1"


# keep_diffs: every overlap's difference image (mDiff), for inspection; the
# fits do not need them.
rule difference_images:
    input:
        projected=projected_images,
        overlaps=result("overlaps"),
        header=result("region"),
    output:
        directory(result("diffs_dir")),
    log:
        log_file("difference_images"),
    benchmark:
        benchmark_file("difference_images")
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_MOSAIC_RESOURCES,
    params:
        job=MONTAGE_JOB,
        folder=result("projected_dir"),
        batches=projection_batches_option,
    shell:
        "{params.job} diffs --overlaps {input.overlaps:q} --projected-dir {params.folder:q}"
        " --projection-batches {params.batches} --header {input.header:q} --out {output:q} > {log:q} 2>&1"


rule gather_fits:
    input:
        fits=fit_files,
        projected_table=result("projected_table"),
        overlaps=result("overlaps"),
    output:
        result("fits_table"),
    log:
        log_file("gather_fits"),
    benchmark:
        benchmark_file("gather_fits")
    priority: 25
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_MOSAIC_RESOURCES,
    params:
        job=MONTAGE_JOB,
        folder=result("fits_dir"),
        fit_jobs=lambda wildcards: fit_layout(wildcards)[0],
        fit_batches=lambda wildcards: fit_layout(wildcards)[1],
    shell:
        "{params.job} gather-fits --projected-table {input.projected_table:q}"
        " --overlaps {input.overlaps:q} --fits-dir {params.folder:q} --out {output:q}"
        " --fit-jobs {params.fit_jobs} --fit-batches {params.fit_batches}"
        " --mosaic {wildcards.mosaic:q} > {log:q} 2>&1"


rule background_model:
    input:
        projected_table=result("projected_table"),
        fits=result("fits_table"),
    output:
        table=result("corrections_table"),
        by_image=result("corrections"),
        screened=result("fits_screened"),
    log:
        log_file("background_model"),
    benchmark:
        benchmark_file("background_model")
    priority: 25
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_MOSAIC_RESOURCES,
    params:
        job=MONTAGE_JOB,
        # only mBgModel iterates: under lsq a changed count reruns nothing
        iterations=lambda wildcards: (
            setting(wildcards, "background", "iterations")
            if setting(wildcards, "background", "solver") == "mbgmodel"
            else 0
        ),
        solver=lambda wildcards: setting(wildcards, "background", "solver"),
        level_only=lambda wildcards: (
            "--level-only"
            if setting(wildcards, "background", "model") == "level"
            else ""
        ),
        screen=lambda wildcards: setting(wildcards, "background", "fit_screen"),
    shell:
        "{params.job} model --projected-table {input.projected_table:q} --fits {input.fits:q}"
        " --out-tbl {output.table:q} --out-tsv {output.by_image:q} --out-screened {output.screened:q}"
        " --min-width {params.screen[min_width]} --min-pixels {params.screen[min_pixels]}"
        " --outlier-sigma {params.screen[outlier_sigma]}"
        " --iterations {params.iterations} --solver {params.solver} {params.level_only} > {log:q} 2>&1"


rule background_correct:
    input:
        unpack(image_projection),
    output:
        image=intermediate(result("corrected"), "corrected"),
        area=intermediate(result("corrected_area"), "corrected"),
    log:
        log_file("background_correct", "{image}"),
    benchmark:
        benchmark_file("background_correct", "{image}")
    priority: 30
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_ITEM_RESOURCES,
    params:
        job=MONTAGE_JOB,
        projected=lambda wildcards: projected_path(wildcards, wildcards.image),
    shell:
        "{params.job} correct --projected {params.projected:q} --corrections {input.corrections:q}"
        " --id {wildcards.image:q} --out {output.image:q} > {log:q} 2>&1"
