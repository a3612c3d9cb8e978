# The image table (which raw images are usable, which are skipped and why)
# and the mosaic's output frame (region header).


checkpoint image_table:
    input:
        unpack(image_table_inputs),
    output:
        images=result("images"),
        skipped=result("skipped"),
        raw_table=result("raw_table"),
        links=directory(result("links")),
        # what each raw file held when last read (size, mtime, inode): kept
        # across runs (update) so that only new or changed files are read again
        inspection_cache=update(result("inspection_cache")),
    log:
        log_file("image_table"),
    benchmark:
        benchmark_file("image_table")
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
        result("region"),
    log:
        log_file("region_header"),
    benchmark:
        benchmark_file("region_header")
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
