# The image table (which raw images are usable, which are skipped and why)
# and the mosaic's output frame (region header).


checkpoint image_table:
    input:
        unpack(image_table_inputs),
    output:
        images="results/{mosaic}/images.tsv",
        skipped="results/{mosaic}/skipped.tsv",
        raw_table="results/{mosaic}/raw.tbl",
        links=directory("results/{mosaic}/inputs"),
    log:
        "logs/{mosaic}/image_table.log",
    benchmark:
        "results/{mosaic}/benchmarks/image_table.tsv"
    priority: 5
    conda:
        "../envs/montage.yaml"
    # Reading every pixel of every image is I/O and CPU: two processes
    # overlap them (nothing else of this mosaic can run yet).
    threads: 2
    resources:
        **PER_MOSAIC_RESOURCES,
    params:
        method=lambda wildcards: setting(wildcards, "projection", "method"),
        recursive=source_is_recursive,
        # the frame of an automatic region (a template or box region has its own)
        frame=lambda wildcards: setting(wildcards, "region").get("frame"),
        sources=source_state,
    script:
        "../scripts/image_table.py"


rule region_header:
    input:
        unpack(region_header_inputs),
    output:
        "results/{mosaic}/region.hdr",
    log:
        "logs/{mosaic}/region_header.log",
    benchmark:
        "results/{mosaic}/benchmarks/region_header.tsv"
    priority: 5
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_MOSAIC_RESOURCES,
    params:
        region=lambda wildcards: setting(wildcards, "region"),
        max_pixels=config["max_pixels"],
    script:
        "../scripts/region_header.py"
