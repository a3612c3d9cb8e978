# The coadd: mAdd of the corrected (or, without background matching, the
# projected) images onto the region header; above coadd.tiles_above pixels,
# one mAdd per tile of the mosaic's grid, then one file. With
# background.correct_jobs: coadd these jobs apply the corrections themselves.


rule coadd_tile:
    input:
        images=tile_images,
        corrections=coadd_corrections,
        fits=background_fits_table,
        table=result("projected_table"),
        header=result("region"),
    output:
        image=temp(result("tile")),
        area=temp(result("tile_area")),
    log:
        log_file("coadd_tile", "{tile}"),
    benchmark:
        benchmark_file("coadd_tile", "{tile}")
    priority: 40
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **COADD_RESOURCES,
    params:
        job=MONTAGE_JOB,
        folder=coadd_folder,
        method=lambda wildcards: setting(wildcards, "coadd", "method"),
        size=coadd_tile_size,
        corrections=coadd_corrections_option,
    shell:
        "{params.job} coadd-tile --images-dir {params.folder:q} --table {input.table:q}"
        " --header {input.header:q} --tile {wildcards.tile} --tile-size {params.size}"
        " --out {output.image:q} --method {params.method:q} {params.corrections}"
        " > {log:q} 2>&1"


rule coadd:
    input:
        unpack(coadd_inputs),
        table=result("projected_table"),
        header=result("region"),
    output:
        image=result("mosaic"),
        area=result("mosaic_area"),
    log:
        log_file("coadd"),
    benchmark:
        benchmark_file("coadd")
    priority: 40
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **COADD_RESOURCES,
    params:
        job=MONTAGE_JOB,
        folder=coadd_folder,
        method=lambda wildcards: setting(wildcards, "coadd", "method"),
        model=lambda wildcards: setting(wildcards, "background", "model"),
        correct_jobs=lambda wildcards: setting(wildcards, "background", "correct_jobs"),
        # assemble the coadded tiles, or mAdd the images (correcting them first
        # with correct_jobs: coadd)
        options=lambda wildcards, input: (
            f"--tiles-dir {result_path(wildcards.mosaic, 'tiles_dir')} --tile-size {coadd_tile_size(wildcards)}"
            if "tiles" in input.keys()
            else coadd_corrections_option(wildcards)
        ),
    shell:
        "{params.job} coadd --images-dir {params.folder:q} --table {input.table:q}"
        " --header {input.header:q} --out {output.image:q} --method {params.method:q}"
        " {params.options} --mosaic {wildcards.mosaic:q} --background-model {params.model}"
        " --correct-jobs {params.correct_jobs} > {log:q} 2>&1"
