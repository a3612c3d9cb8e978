# Where raw images come from. A synthetic field is made here; a local folder
# needs no rule (the image table reads it directly).


rule synthetic_field:
    output:
        tiles=directory(result("synthetic_tiles")),
        truth=result("synthetic_truth"),
    log:
        log_file("synthetic_field"),
    benchmark:
        benchmark_file("synthetic_field")
    priority: 0
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_MOSAIC_RESOURCES,
    params:
        settings=lambda wildcards: {
            k: v for k, v in setting(wildcards, "source").items() if k != "type"
        },
    script:
        "../scripts/synthetic_field.py"
