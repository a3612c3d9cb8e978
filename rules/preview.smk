# A PNG for people: mShrink to a viewable size, then mViewer's stretch.


rule preview:
    input:
        mosaic_file("mosaic"),
    output:
        report(
            result("preview"),
            caption="../report/mosaic.rst",
            category="Mosaics",
            subcategory="{mosaic}",
        ),
    log:
        log_file("preview"),
    benchmark:
        benchmark_file("preview")
    priority: 50
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_MOSAIC_RESOURCES,
    params:
        job=MONTAGE_JOB,
        max_size=lambda wildcards: setting(wildcards, "preview", "max_size"),
        stretch=lambda wildcards: setting(wildcards, "preview", "stretch"),
        colour_table=lambda wildcards: setting(wildcards, "preview", "colour_table"),
    shell:
        "{params.job} preview --mosaic {input:q} --out {output:q}"
        " --max-size {params.max_size} --stretch {params.stretch:q}"
        " --colour-table {params.colour_table} > {log:q} 2>&1"
