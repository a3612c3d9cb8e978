"""The workflow's jobs: the shell jobs' command line and command, and the glue of script jobs."""
