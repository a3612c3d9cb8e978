"""What an operator calls the step each rule does, in the order a mosaic goes
through them: the monitor, the tracking views and the benchmarks group jobs by
these names. Standard library only."""

STAGES = (
    ("inputs", ("synthetic_field", "archive_query", "archive_download")),
    ("image table", ("region_header", "image_table")),
    ("projection", ("project", "project_batch")),
    ("overlaps", ("projected_table",)),
    (
        "difference fits",
        ("difference_fit", "difference_fits_by_image", "difference_fits_by_batch", "gather_fits", "difference_images"),
    ),
    ("background model", ("background_model",)),
    ("corrections", ("background_correct",)),
    ("coadd", ("coadd_tile", "coadd")),
    ("preview", ("preview",)),
    ("quality", ("quality_report",)),
    ("HiPS", ("hips_plan", "hips_tiles", "hips_lower_orders", "hips", "hips_colour_part", "hips_colour")),
)
STAGE_OF_RULE = {rule: stage for stage, rules in STAGES for rule in rules}
STAGE_NAMES = [stage for stage, _ in STAGES]
