# One projection job per image, or per batch of images (projection.jobs), then
# Montage's tables of the projected images and their overlaps. A projection
# depends on its own raw image's content and the region header only, so
# replacing or adding one image re-projects just that image, or its batch.


rule project:
    input:
        header=result("region"),
    output:
        image=intermediate(result("projected"), "projected"),
        area=intermediate(result("projected_area"), "projected"),
        key=intermediate(result("projected_key"), "projected"),
    log:
        log_file("project", "{image}"),
    benchmark:
        benchmark_file("project", "{image}")
    priority: 10
    retries: config["image_retries"]
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_ITEM_RESOURCES,
        # How to handle a failure, not what the projection is: resources, not
        # params, so that changing them does not reproject every image. The
        # attempt number lets the job tell a retry from its last attempt.
        attempt_number=lambda wildcards, attempt: attempt,
        on_image_error=lambda wildcards: setting(wildcards, "on_image_error"),
        image_retries=config["image_retries"],
    params:
        job=MONTAGE_JOB,
        # Montage reads the raw file through the image table's ASCII-named link.
        link=result("link"),
        # What the projection of this image depends on, in one parameter (one
        # call per job while Snakemake plans thousands of them): its HDU and
        # method; the raw file's content digest (from the image table, which
        # sees every change to the file; the raw file is not an input, so a
        # touch or a copy of the same bytes does not reproject); and the token
        # of its last failed projection (on_image_error: skip left a new one:
        # the next run tries it again, see mosaicflow.montage.per_item.retry_tokens).
        image=projection_parameters,
    shell:
        "{params.job} project --raw {params.link:q} --hdu {params.image[hdu]:q}"
        " --method {params.image[method]:q} --header {input.header:q} --out {output.image:q}"
        " --on-error {resources.on_image_error} --attempt {resources.attempt_number}"
        " --retries {resources.image_retries} --content {params.image[content]}"
        " --key {output.key:q} --token {params.image[retry]:q}"
        " > {log:q} 2>&1"


rule project_batch:
    # One folder per batch, all of it the job's output; an image's batch is a
    # hash of its id (mosaicflow.files.layout.batch_of), so a changed, added or
    # removed image re-projects its own batch only.
    input:
        header=result("region"),
    output:
        intermediate(directory(result("projection_batch")), "projected"),
    log:
        log_file("project", "batch-{batch}"),
    benchmark:
        benchmark_file("project", "batch-{batch}")
    priority: 10
    retries: config["image_retries"]
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_ITEM_RESOURCES,
        attempt_number=lambda wildcards, attempt: attempt,
        on_image_error=lambda wildcards: setting(wildcards, "on_image_error"),
        image_retries=config["image_retries"],
    params:
        job=MONTAGE_JOB,
        batches=lambda wildcards: setting(wildcards, "projection", "batches"),
        # The job reads its images from the image table, which is not its input
        # (it changes with every image): what its images' projections depend on
        # (see rule project) is this parameter, so a change to one of them reruns it.
        images=result("images"),
        batch=projection_batch_digest,
        tokens=projection_batch_tokens,
    shell:
        "{params.job} project-batch --batch {wildcards.batch} --batches {params.batches}"
        " --images {params.images:q} --header {input.header:q} --out {output:q}"
        " --on-error {resources.on_image_error} --attempt {resources.attempt_number}"
        " --retries {resources.image_retries} --tokens '{params.tokens}' > {log:q} 2>&1"


checkpoint projected_table:
    # Which images were projected (mImgtbl) and which of them overlap
    # (mOverlaps): the per-overlap fits, the corrections and the coadd are
    # planned from these two tables. One checkpoint, so that Snakemake re-plans
    # once; it takes the image table's links folder (never checksum-compared,
    # unlike images.tsv) so that it runs whenever the image table ran, and the
    # jobs planned from it are always re-planned (Snakemake leaves jobs waiting
    # on a checkpoint that it decides, after an earlier one ran, not to run).
    input:
        images=result("images"),
        links=result("links"),
        projected=projected_images,
    output:
        table=result("projected_table"),
        failed=result("failed"),
        overlaps=result("overlaps"),
        overlaps_skipped=result("overlaps_skipped"),
    log:
        log_file("projected_table"),
    benchmark:
        benchmark_file("projected_table")
    priority: 15
    conda:
        "../envs/montage.yaml"
    # mImgtbl of thousands of projected images reads their headers in two
    # processes (nothing else of this mosaic can run yet).
    threads: 2
    resources:
        **PER_MOSAIC_RESOURCES,
    params:
        job=MONTAGE_JOB,
        folder=result("projected_dir"),
        retries=retry_digest,
        # without background matching nothing reads the overlaps: no mOverlaps
        no_overlaps=lambda wildcards: (
            "--no-overlaps"
            if setting(wildcards, "background", "model") == "none"
            else ""
        ),
        projection_batches=projection_batches_option,
    shell:
        "{params.job} projected-table --images {input.images:q}"
        " --projected-dir {params.folder:q} --out {output.table:q} --failed {output.failed:q}"
        " --overlaps {output.overlaps:q} --overlaps-skipped {output.overlaps_skipped:q}"
        " {params.no_overlaps} --projection-batches {params.projection_batches} --processes {threads}"
        " --mosaic {wildcards.mosaic:q} > {log:q} 2>&1"
