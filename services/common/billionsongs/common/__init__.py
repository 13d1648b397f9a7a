"""What every Billion Songs service shares: settings, logs, gRPC plumbing, ids."""
