"""The sweep (DESIGN 3.9): read ECS in every member account and region, record what runs, close what vanished.

- ``targets``: which account-regions to sweep, and the fan-out messages (one per account-region);
- ``ratelimit``: a token bucket per account-region, so the sweep takes a small, fixed share of ECS's
  per-account request budget;
- ``ecs``: the ECS reads through the member role, with throttling retried under capped
  exponential backoff and full jitter;
- ``worker``: one account-region, resumable (cluster, status, nextToken) when its time runs low;
- ``closing``: tasks the inventory holds as running that ECS no longer knows.
"""
