"""One router per resource: jobs (and their live views) and operations."""
