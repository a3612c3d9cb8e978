# The quality report: images used and skipped, overlap fits, corrections,
# overlap RMS before and after matching, coverage and depth (with a PNG), and
# the same as an HTML page for the report.


rule quality_report:
    input:
        unpack(quality_report_inputs),
    output:
        table=result("quality"),
        page=report(
            result("quality_html"),
            caption="../report/quality.rst",
            category="Quality",
            subcategory="{mosaic}",
        ),
        depth_png=report(
            result("depth_png"),
            caption="../report/depth.rst",
            category="Quality",
            subcategory="{mosaic}",
        ),
    log:
        log_file("quality_report"),
    benchmark:
        benchmark_file("quality_report")
    # after the coadd (it counts the mosaic's finite pixels), beside the PNG
    priority: 35
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **QUALITY_RESOURCES,
    params:
        background_model=lambda wildcards: setting(wildcards, "background", "model"),
        max_size=lambda wildcards: setting(wildcards, "preview", "max_size"),
        fit_jobs=lambda wildcards: fit_layout(wildcards)[0],
        fit_batches=lambda wildcards: fit_layout(wildcards)[1],
        correct_jobs=lambda wildcards: setting(wildcards, "background", "correct_jobs"),
    script:
        "../scripts/quality_report.py"
