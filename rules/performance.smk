# Per-job accounting: `snakemake performance` sums every mosaic's benchmark
# records per stage (jobs, wall, CPU, memory) into a table and a plot.


rule performance:
    input:
        [f"results/{name}/performance.tsv" for name in MOSAICS],


rule performance_summary:
    input:
        # the finished mosaic: every job whose benchmark is summed has run
        mosaic_file("mosaic.png"),
        mosaic_file("quality.tsv"),
    output:
        table=report(
            "results/{mosaic}/performance.tsv",
            caption="../report/performance.rst",
            category="Performance",
            subcategory="{mosaic}",
        ),
        plot=report(
            "results/{mosaic}/performance.png",
            caption="../report/performance.rst",
            category="Performance",
            subcategory="{mosaic}",
        ),
    log:
        "logs/{mosaic}/performance_summary.log",
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_MOSAIC_RESOURCES,
    script:
        "../scripts/performance_report.py"
