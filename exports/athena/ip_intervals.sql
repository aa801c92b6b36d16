-- taskbeacon: who held which IP address, and when (view taskbeacon_ip_intervals). Run after tasks.sql.
-- One row per address and task: every IPv4 and IPv6 address of the task's containers' networks,
-- and the addresses only the task itself claimed (sources.unconfirmed.ips: AWS stated others).
-- These are exactly the values GET /search?ip= finds (lambdas/core/logic/indexing.py index_entries).
--
-- held_from / held_to are the interval GET /search?ip=X&at=T answers with (heldFrom / heldUntil):
-- held from the task's own start (startedAt, else firstSeenAt, else lastSeenAt: active_from of
-- taskbeacon_tasks), held until its stoppedAt; held_to is NULL while no stop time is known.
-- "Held X at T": ip = X AND held_from <= T AND (held_to IS NULL OR held_to >= T), both ends
-- included, so at the very moment one task stops and the next starts on the address, both hold it.
-- confirmed: AWS (an event or the ECS API) stated this address for the task; false when only the
-- task said so. expires_at: drop expired tasks as the other queries do (see tasks.sql).
CREATE OR REPLACE VIEW taskbeacon_ip_intervals AS
WITH claimed AS (
  SELECT
    tasks.identity,
    json_extract(n.network, '$.ipv4Addresses') AS addresses
  FROM taskbeacon_tasks AS tasks
  CROSS JOIN UNNEST(tasks.containers) AS c (container)
  CROSS JOIN UNNEST(CAST(json_extract(c.container, '$.networks') AS ARRAY(JSON))) AS n (network)
  UNION ALL
  SELECT
    tasks.identity,
    json_extract(n.network, '$.ipv6Addresses') AS addresses
  FROM taskbeacon_tasks AS tasks
  CROSS JOIN UNNEST(tasks.containers) AS c (container)
  CROSS JOIN UNNEST(CAST(json_extract(c.container, '$.networks') AS ARRAY(JSON))) AS n (network)
  UNION ALL
  SELECT
    tasks.identity,
    json_extract(tasks.doc, '$.sources.unconfirmed.ips') AS addresses
  FROM taskbeacon_tasks AS tasks
),
held AS (
  -- In awsvpc mode every container of a task lists the task's one address: keep it once.
  SELECT DISTINCT
    claimed.identity,
    a.ip
  FROM claimed
  CROSS JOIN UNNEST(CAST(claimed.addresses AS ARRAY(VARCHAR))) AS a (ip)
)
SELECT
  held.ip,
  tasks.task_arn,
  tasks.account_id,
  tasks.region,
  tasks.cluster_name,
  tasks.service_name,
  tasks.active_from AS held_from,
  tasks.stopped_at AS held_to,
  coalesce(
    contains(CAST(json_extract(tasks.doc, '$.sources.confirmed.ips') AS ARRAY(VARCHAR)), held.ip), false
  ) AS confirmed,
  tasks.last_status,
  tasks.expires_at,
  tasks.identity
FROM held
JOIN taskbeacon_tasks AS tasks ON tasks.identity = held.identity
