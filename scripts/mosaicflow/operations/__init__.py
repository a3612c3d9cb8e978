"""Running it: the live monitor, the folder watcher, job tracking, the HTCondor pool check."""
