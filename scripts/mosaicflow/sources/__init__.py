"""The raw images: the image table (find, validate, select), archive downloads, source folders."""
