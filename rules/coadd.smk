# The coadd: mAdd of the corrected (or, without background matching, the
# projected) images onto the region header; above coadd.tiles_above pixels,
# one mAdd per tile of the mosaic's grid, then one file.


rule coadd_tile:
    input:
        images=tile_images,
        fits=background_fits_table,
        table="results/{mosaic}/projected.tbl",
        header="results/{mosaic}/region.hdr",
    output:
        image=temp("results/{mosaic}/tiles/{tile}.fits"),
        area=temp("results/{mosaic}/tiles/{tile}_area.fits"),
    log:
        "logs/{mosaic}/coadd_tile/{tile}.log",
    benchmark:
        "results/{mosaic}/benchmarks/coadd_tile/{tile}.tsv"
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
        size=coadd_tile_size,
    shell:
        "{params.job} coadd-tile --images-dir {params.folder:q} --table {input.table:q}"
        " --header {input.header:q} --tile {wildcards.tile} --tile-size {params.size}"
        " --out {output.image:q} --method {params.method:q} > {log:q} 2>&1"


rule coadd:
    input:
        unpack(coadd_inputs),
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
        tiles=lambda wildcards, input: (
            f"--tiles-dir results/{wildcards.mosaic}/tiles --tile-size {coadd_tile_size(wildcards)}"
            if "tiles" in input.keys()
            else ""
        ),
    shell:
        "{params.job} coadd --images-dir {params.folder:q} --table {input.table:q}"
        " --header {input.header:q} --out {output.image:q} --method {params.method:q}"
        " {params.tiles} > {log:q} 2>&1"
