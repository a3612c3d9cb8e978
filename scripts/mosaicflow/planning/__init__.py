"""Planning: which files each job of a mosaic reads, and what its parameters say it
depends on, from the mosaic's settings and tables. The rules' input functions
(rules/input_functions.smk) fetch the tables and call these. Standard library
only: every job parses the workflow."""
