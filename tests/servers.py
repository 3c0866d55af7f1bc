"""Private servers for tests that stop and restart them (the shared PostgreSQL and Redis must keep
running for everything else): PostgreSQL in a temp dir, a redis-server on a free port.

The helpers live in ``rollout.staging.processes`` (the staging deployer starts the same servers)."""

from rollout.staging.processes import PrivatePostgres, RedisProcess, free_port

__all__ = ["PrivatePostgres", "RedisProcess", "free_port"]
