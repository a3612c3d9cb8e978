"""What a run reports: quality, depth map, performance, the run summary and its pages."""
