"""What the workflow takes for a FITS file's name. Standard library only."""

# Longest first, so that ".fits.gz" wins over ".gz"-less ".fits" matches.
FITS_SUFFIXES = tuple(
    sorted(
        (".fits", ".fit", ".fts", ".fz", ".fits.gz", ".fit.gz", ".fts.gz", ".fits.fz", ".fits.bz2", ".fit.bz2"),
        key=len,
        reverse=True,
    )
)


def fits_suffix(name):
    """The FITS suffix ``name`` ends with (any case), or ''."""
    lower = name.lower()
    return next((suffix for suffix in FITS_SUFFIXES if lower.endswith(suffix)), "")
