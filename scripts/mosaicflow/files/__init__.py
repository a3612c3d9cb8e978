"""Where a mosaic's files live, and writing and reading them: paths and batches, atomic writes, tables."""
