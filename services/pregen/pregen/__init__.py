"""The pregeneration worker: keeps the Redis pool of ready songs full."""
