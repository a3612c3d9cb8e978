# Montage mosaics with Snakemake: raw images -> projected -> difference fits
# -> background corrections -> corrected -> mosaic.fits -> mosaic.png.
# This file is a table of contents; the logic lives in rules/ and scripts/.

from snakemake.utils import min_version

min_version("8.0")


# The demo (or the working directory's config/config.yaml) applies only when
# no config file was given and --config gave no mosaics, so a user's own
# config (even one with a misspelled 'mosaics:') is never merged with the demo.
DEFAULT_CONFIG = (
    "config/config.yaml"
    if os.path.exists("config/config.yaml")
    else os.path.join(workflow.basedir, "config", "config.yaml")
)
if not workflow.overwrite_configfiles and not (
    config.get("mosaics") or config.get("fields")
):

    configfile: DEFAULT_CONFIG


include: "rules/common.smk"
include: "rules/resources.smk"
include: "rules/input_functions.smk"
include: "rules/sources.smk"
include: "rules/archive.smk"
include: "rules/inputs.smk"
include: "rules/projection.smk"
include: "rules/background.smk"
include: "rules/coadd.smk"
include: "rules/preview.smk"
include: "rules/color.smk"
include: "rules/hips.smk"
include: "rules/quality.smk"
include: "rules/performance.smk"
include: "rules/run_state.smk"


# The report's landing page: report/workflow.rst, and the last run's summary
# and time per stage once a run has written them (rules/run_state.smk).
report: landing_page()


rule all:
    default_target: True
    input:
        final_outputs(),
