# Colour composites: three mosaics that share one header, as one mViewer PNG.


rule color_composite:
    input:
        red=colour_channel_file("red", "mosaic"),
        green=colour_channel_file("green", "mosaic"),
        blue=colour_channel_file("blue", "mosaic"),
        red_header=colour_channel_file("red", "region"),
        green_header=colour_channel_file("green", "region"),
        blue_header=colour_channel_file("blue", "region"),
    output:
        report(
            layout.colour_png("{color}"),
            caption="../report/color.rst",
            category="Colour composites",
        ),
    log:
        layout.COLOUR_LOG,
    benchmark:
        layout.COLOUR_BENCHMARK
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
