# Archive sources: ask Montage's archive list service which images cover the
# region (checkpoint), then one download job per image into a cache shared by
# all mosaics and runs. A dry run does not query or download (it stops at the
# checkpoint). The query also keeps its image list in the cache
# (CACHE/SURVEY/BAND/queries/), read only when the service cannot be reached:
# a fallback for offline reruns, deliberately not an input.


# The service address, resolved once here (config, else $MOSAIC_ARCHIVE_URL,
# else IPAC's): a parameter of the query, so a new address reruns it, and no
# job reads the environment.
ARCHIVE_URL = archive_url(ARCHIVE.get("url"))


checkpoint archive_query:
    output:
        result("archive_list"),
    log:
        log_file("archive_query"),
    benchmark:
        benchmark_file("archive_query")
    priority: 0
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_MOSAIC_RESOURCES,
    params:
        survey=lambda wildcards: setting(wildcards, "source")["survey"],
        band=lambda wildcards: setting(wildcards, "source")["band"],
        location=lambda wildcards: setting(wildcards, "source")["location"],
        size=lambda wildcards: setting(wildcards, "source")["size"],
        url=ARCHIVE_URL,
        cache=ARCHIVE["cache"],
        timeout=ARCHIVE["timeout"],
        retries=ARCHIVE["retries"],
    script:
        "../scripts/archive_query.py"


rule archive_download:
    input:
        # where to download the image from, written by the query: {"url", "size"}
        source=os.path.join(
            ARCHIVE["cache"], "{survey}", "{band}", "{file}.source.json"
        ),
    output:
        os.path.join(ARCHIVE["cache"], "{survey}", "{band}", "{file}"),
    log:
        layout.DOWNLOAD_LOG,
    benchmark:
        layout.DOWNLOAD_BENCHMARK
    wildcard_constraints:
        survey=r"[a-z0-9][a-z0-9._-]*",
        band=r"[a-z0-9][a-z0-9._-]*",
        file=CACHE_NAME_PATTERN,
    priority: 0
    conda:
        "../envs/montage.yaml"
    threads: 1
    resources:
        **PER_ITEM_RESOURCES,
    params:
        job=MONTAGE_JOB,
        timeout=ARCHIVE["timeout"],
        retries=ARCHIVE["retries"],
    shell:
        "{params.job} download --source {input.source:q} --out {output:q} --timeout {params.timeout}"
        " --retries {params.retries} > {log:q} 2>&1"
