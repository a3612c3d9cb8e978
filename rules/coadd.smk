# The coadd: mAdd of the corrected (or, without background matching, the
# projected) images onto the region header.


rule coadd:
    input:
        images=coadd_images,
        fits=background_fits_table,
        table="results/{mosaic}/projected.tbl",
        header="results/{mosaic}/region.hdr",
    output:
        image="results/{mosaic}/mosaic.fits",
        area="results/{mosaic}/mosaic_area.fits",
    log:
        "logs/{mosaic}/coadd.log",
    benchmark:
        "results/{mosaic}/benchmarks/coadd.tsv"
    priority: 40
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **COADD_RESOURCES,
    params:
        job=MONTAGE_JOB,
        folder=lambda wildcards: f"results/{wildcards.mosaic}/{coadd_folder(wildcards)}",
        method=lambda wildcards: setting(wildcards, "coadd", "method"),
    shell:
        "{params.job} coadd --images-dir {params.folder:q} --table {input.table:q}"
        " --header {input.header:q} --out {output.image:q} --method {params.method:q}"
        " > {log:q} 2>&1"
