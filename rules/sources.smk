# Where raw images come from. A synthetic field is made here; a local folder
# needs no rule (the image table reads it directly).


rule synthetic_field:
    output:
        tiles=directory("results/{mosaic}/synthetic/tiles"),
        truth="results/{mosaic}/synthetic/truth.json",
    log:
        "logs/{mosaic}/synthetic_field.log",
    benchmark:
        "results/{mosaic}/benchmarks/synthetic_field.tsv"
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
