# The mosaic as a HiPS (hips: true): a plan (a checkpoint: the order and the
# tiles follow from the mosaic's header), the deepest order's tiles in
# batches, then one job for the lower orders (each from the one below), then
# the HiPS folder. A colour composite whose three mosaics have one gets a
# colour HiPS of their tiles, in the same parts (batches of the deepest order,
# the lower orders), and the bands' pages show it.


checkpoint hips_plan:
    input:
        mosaic=mosaic_file("mosaic"),
    output:
        plan=result("hips_plan"),
    log:
        log_file("hips_plan"),
    benchmark:
        benchmark_file("hips_plan")
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_MOSAIC_RESOURCES,
    params:
        batches=lambda wildcards: setting(wildcards, "hips_batches"),
    script:
        "../scripts/hips_plan.py"


rule hips_tiles:
    input:
        mosaic=mosaic_file("mosaic"),
        plan=result("hips_plan"),
    output:
        folder=temp(directory(result("hips_batch"))),
    log:
        log_file("hips_tiles", "{batch}"),
    benchmark:
        benchmark_file("hips_tiles", "{batch}")
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_ITEM_RESOURCES,
    script:
        "../scripts/hips_tiles.py"


rule hips_lower_orders:
    input:
        deepest=hips_batch_folders,
        plan=result("hips_plan"),
    output:
        folder=temp(directory(result("hips_lower"))),
    log:
        log_file("hips_lower_orders"),
    benchmark:
        benchmark_file("hips_lower_orders")
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_MOSAIC_RESOURCES,
    script:
        "../scripts/hips_lower_orders.py"


rule hips:
    input:
        parts=hips_parts,
        plan=result("hips_plan"),
    output:
        folder=directory(result("hips")),
    log:
        log_file("hips"),
    benchmark:
        benchmark_file("hips")
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_MOSAIC_RESOURCES,
    params:
        colour=hips_colour_url,
    script:
        "../scripts/hips_folder.py"


rule hips_colour_part:
    input:
        unpack(colour_hips_bands),
    output:
        folder=temp(directory(layout.colour_hips_part("{color}", "{part}"))),
    log:
        layout.colour_job_log("hips_colour_part", "{part}"),
    benchmark:
        layout.colour_job_benchmark("hips_colour_part", "{part}")
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_ITEM_RESOURCES,
    script:
        "../scripts/hips_colour_part.py"


rule hips_colour:
    input:
        unpack(colour_hips_bands),
        parts=colour_hips_parts,
    output:
        folder=directory(layout.colour_hips("{color}")),
    log:
        layout.colour_job_log("hips_colour"),
    benchmark:
        layout.colour_job_benchmark("hips_colour")
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_MOSAIC_RESOURCES,
    script:
        "../scripts/hips_colour.py"
