# The mosaic as a HiPS (hips: true): a plan (a checkpoint: the order and the
# tiles follow from the mosaic's header), the deepest order's tiles in
# batches, each lower order from the one below, then the HiPS folder.


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


rule hips_order:
    input:
        below=hips_order_below,
        plan=result("hips_plan"),
    output:
        folder=temp(directory(result("hips_order"))),
    log:
        log_file("hips_order", "{order}"),
    benchmark:
        benchmark_file("hips_order", "{order}")
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_MOSAIC_RESOURCES,
    script:
        "../scripts/hips_order.py"


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
    script:
        "../scripts/hips_folder.py"
