# Per-job accounting: `snakemake performance` sums every mosaic's benchmark
# records per stage (jobs, wall, CPU, memory) into a table and a plot.


rule performance:
    input:
        [result_path(name, "performance") for name in MOSAICS],


rule performance_summary:
    input:
        # the finished mosaic: every job whose benchmark is summed has run
        mosaic_file("preview"),
        mosaic_file("quality"),
    output:
        table=report(
            result("performance"),
            caption="../report/performance.rst",
            category="Performance",
            subcategory="{mosaic}",
        ),
        plot=report(
            result("performance_png"),
            caption="../report/performance.rst",
            category="Performance",
            subcategory="{mosaic}",
        ),
    log:
        log_file("performance_summary"),
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_MOSAIC_RESOURCES,
    script:
        "../scripts/performance_report.py"
