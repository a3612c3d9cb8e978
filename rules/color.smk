# Colour composites: three mosaics that share one header, as one mViewer PNG.


rule color_composite:
    input:
        red=lambda wildcards: f"results/{COLORS[wildcards.color]['mosaics']['red']}/mosaic.fits",
        green=lambda wildcards: f"results/{COLORS[wildcards.color]['mosaics']['green']}/mosaic.fits",
        blue=lambda wildcards: f"results/{COLORS[wildcards.color]['mosaics']['blue']}/mosaic.fits",
        red_header=lambda wildcards: f"results/{COLORS[wildcards.color]['mosaics']['red']}/region.hdr",
        green_header=lambda wildcards: f"results/{COLORS[wildcards.color]['mosaics']['green']}/region.hdr",
        blue_header=lambda wildcards: f"results/{COLORS[wildcards.color]['mosaics']['blue']}/region.hdr",
    output:
        report(
            "results/color/{color}.png",
            caption="../report/color.rst",
            category="Colour composites",
        ),
    log:
        "logs/color/{color}.log",
    benchmark:
        "results/color/benchmarks/{color}.tsv"
    priority: 60
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_MOSAIC_RESOURCES,
    params:
        job=MONTAGE_JOB,
        stretch=lambda wildcards: COLORS[wildcards.color]["stretch"],
        max_size=lambda wildcards: COLORS[wildcards.color]["max_size"],
    shell:
        "{params.job} color --red {input.red:q} --green {input.green:q} --blue {input.blue:q}"
        " --red-header {input.red_header:q} --green-header {input.green_header:q}"
        " --blue-header {input.blue_header:q} --out {output:q} --stretch {params.stretch:q}"
        " --max-size {params.max_size} > {log:q} 2>&1"
