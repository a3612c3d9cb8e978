# One projection job per image, then Montage's table of the projected images.
# A projection depends on its own raw image and the region header only, so
# replacing or adding one image re-projects just that image.


rule project:
    input:
        raw=raw_image,
        header="results/{mosaic}/region.hdr",
    output:
        image=intermediate("results/{mosaic}/projected/{image}.fits", "projected"),
        area=intermediate("results/{mosaic}/projected/{image}_area.fits", "projected"),
    log:
        "logs/{mosaic}/project/{image}.log",
    benchmark:
        "results/{mosaic}/benchmarks/project/{image}.tsv"
    priority: 10
    retries: config["image_retries"]
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_ITEM_RESOURCES,
        # lets the job tell a retry from its last attempt (on_image_error)
        attempt_number=lambda wildcards, attempt: attempt,
    params:
        job=MONTAGE_JOB,
        # Montage reads the raw file through the image table's ASCII-named link.
        link="results/{mosaic}/inputs/{image}.fits",
        hdu=lambda wildcards: image_record(wildcards)["hdu"],
        method=lambda wildcards: image_record(wildcards)["method"],
        on_error=lambda wildcards: setting(wildcards, "on_image_error"),
        retries=config["image_retries"],
    shell:
        "{params.job} project --raw {params.link:q} --hdu {params.hdu:q}"
        " --method {params.method:q} --header {input.header:q} --out {output.image:q}"
        " --on-error {params.on_error} --attempt {resources.attempt_number} --retries {params.retries}"
        " > {log:q} 2>&1"


rule projected_table:
    input:
        images="results/{mosaic}/images.tsv",
        projected=projected_images,
    output:
        table="results/{mosaic}/projected.tbl",
        failed="results/{mosaic}/failed_images.tsv",
    log:
        "logs/{mosaic}/projected_table.log",
    benchmark:
        "results/{mosaic}/benchmarks/projected_table.tsv"
    priority: 15
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_MOSAIC_RESOURCES,
    params:
        job=MONTAGE_JOB,
        folder="results/{mosaic}/projected",
    shell:
        "{params.job} projected-table --images {input.images:q}"
        " --projected-dir {params.folder:q} --out {output.table:q} --failed {output.failed:q}"
        " > {log:q} 2>&1"
