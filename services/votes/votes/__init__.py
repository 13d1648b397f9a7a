"""The votes service: accounts, votes and durable copies of voted songs on PostgreSQL."""
