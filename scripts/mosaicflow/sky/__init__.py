"""The sky: region headers, FITS header cards and coordinate frames, synthetic skies with known truth."""
