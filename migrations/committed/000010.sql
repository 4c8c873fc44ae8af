--! Previous: sha1:7955745839bf4887f78bd4c44f56fe5de855a96a
--! Hash: sha1:d194633fdbb6345271351df5d3a0a9a4b2bfaf81

-- Flow control, cheaper for queues that limit their keys (issue 20, W8).
--
-- The outcome write of a job with a concurrency key hands the key's freed place to the key's next
-- job in its own transaction, as the write of a queue with a running limit already did: only_keys,
-- with only_queues beside it, names the keys to look at (each once per place freed, with its
-- queue) instead of a loose scan of every key with ready jobs, and a key takes no more than it
-- freed. A claim whose every found job will be claimed locks each in the index scan that finds
-- it, instead of looking each up again by id to lock it. The correctness argument is 000006's:
-- each statement after the queue's row lock counts with a snapshot taken after the lock was
-- granted; a hand-over runs after the write moved its jobs out of taiat_jobs, so its counts no
-- longer hold them. Called with four arguments (a worker of the version before), it claims as
-- before; with only_keys, a queue none of whose keys is named claims nothing.

-- New arguments make a new function: the old one's grants are carried over (after the CREATE),
-- so that a database that revoked EXECUTE from PUBLIC keeps both that and its workers' grant.
SELECT set_config('taiat.claim_limited_acl', coalesce(proacl::text, ''), true)
  FROM pg_proc WHERE oid = 'taiat_claim_limited(varchar[], varchar, integer, double precision)'::regprocedure;

DROP FUNCTION taiat_claim_limited(varchar[], varchar, integer, double precision);

CREATE FUNCTION taiat_claim_limited(queues varchar[], worker varchar, want integer, lease_seconds double precision,
                                    only_keys varchar[] DEFAULT '{}', only_queues varchar[] DEFAULT '{}')
RETURNS SETOF taiat_jobs
LANGUAGE plpgsql VOLATILE STRICT SET search_path FROM CURRENT AS $$
DECLARE
  q taiat_queues;
  left_over integer := want;
  cap integer;
  n integer;
  at timestamptz;
  by_key boolean;
  rated boolean;
  keyed_ids varchar[];
  keyless_ids varchar[];
  picked varchar[];
  key_list varchar[];
  rooms integer[];
  locked boolean;
  qname varchar;
BEGIN
  -- Each queue's row is locked only when its turn comes (in name order: no two claimers deadlock),
  -- so a claim that stops early holds up no claimer of the queues it did not reach.
  FOR qname IN SELECT name FROM taiat_queues WHERE name = ANY(queues) AND controlled AND NOT paused ORDER BY name LOOP
    EXIT WHEN left_over <= 0;
    SELECT * INTO q FROM taiat_queues WHERE name = qname AND controlled AND NOT paused FOR UPDATE;
    CONTINUE WHEN NOT FOUND;
    at := clock_timestamp();
    cap := left_over;
    IF q.concurrency IS NOT NULL THEN
      SELECT q.concurrency - count(*) INTO n FROM taiat_jobs WHERE status = 'running' AND queue = q.name;
      cap := least(cap, n);
    END IF;
    IF q.rate_limit IS NOT NULL THEN
      SELECT q.rate_limit - count(*) INTO n FROM taiat_rate_claims
       WHERE queue = q.name AND claimed_at > at - make_interval(secs => q.rate_period_seconds);
      cap := least(cap, n);
    END IF;
    CONTINUE WHEN cap <= 0;
    by_key := q.key_concurrency IS NOT NULL OR q.key_rate_limit IS NOT NULL OR q.has_key_limits;
    rated := q.rate_limit IS NOT NULL OR q.key_rate_limit IS NOT NULL
             OR (q.has_key_limits AND EXISTS (SELECT 1 FROM taiat_queue_keys WHERE queue = q.name AND rate_limit IS NOT NULL));

    -- The jobs to claim, locked (SKIP LOCKED: never waiting for another claimer's rows).
    IF NOT by_key THEN
      picked := ARRAY(
        SELECT id FROM taiat_jobs
         WHERE status = 'pending' AND pending_dependencies = 0 AND run_at <= now() AND queue = q.name
         ORDER BY priority DESC, run_at, id LIMIT cap
         FOR UPDATE SKIP LOCKED);
    ELSE
      -- Jobs without a key are held by the queue's limits only. No index keeps them apart (one
      -- would cost every job without a key), so finding them walks the queue's ready jobs past
      -- the keyed ones: done while the last look found some, else at most once a second; never
      -- by a hand-over (a job without a key frees no key's place).
      keyless_ids := '{}';
      IF cardinality(only_keys) = 0
         AND (q.keyless_seen OR q.keyless_checked_at IS NULL OR q.keyless_checked_at < at - interval '1 second') THEN
        keyless_ids := ARRAY(
          SELECT id FROM taiat_jobs
           WHERE queue = q.name AND concurrency_key IS NULL AND status = 'pending' AND pending_dependencies = 0 AND run_at <= now()
           ORDER BY priority DESC, run_at, id LIMIT cap);
        IF cardinality(keyless_ids) = 0 OR NOT q.keyless_seen THEN
          UPDATE taiat_queues SET keyless_seen = cardinality(keyless_ids) > 0, keyless_checked_at = at WHERE name = q.name;
        END IF;
      END IF;
      -- The keys to look at: those whose places this transaction freed (only_keys: an outcome
      -- write's hand-over, a key once per place), else every key with ready jobs, one index probe
      -- each (a loose index scan); and what each may still start (its running limit less its
      -- running jobs, its rate limit less its window, and in a hand-over the places it freed).
      SELECT coalesce(array_agg(caps.k), '{}'), coalesce(array_agg(caps.room), '{}') INTO key_list, rooms FROM (
        WITH RECURSIVE scanned(k) AS (
          (SELECT concurrency_key FROM taiat_jobs
            WHERE cardinality(only_keys) = 0
              AND queue = q.name AND status = 'pending' AND pending_dependencies = 0 AND concurrency_key IS NOT NULL
            ORDER BY concurrency_key LIMIT 1)
          UNION ALL
          SELECT (SELECT concurrency_key FROM taiat_jobs
                   WHERE queue = q.name AND status = 'pending' AND pending_dependencies = 0 AND concurrency_key IS NOT NULL
                     AND concurrency_key > scanned.k
                   ORDER BY concurrency_key LIMIT 1)
            FROM scanned WHERE scanned.k IS NOT NULL
        ), keys(k, freed) AS (
          SELECT k, NULL::integer FROM scanned WHERE k IS NOT NULL
          UNION ALL
          SELECT o.k, count(*)::integer FROM unnest(only_keys, only_queues) AS o(k, queue) WHERE o.queue = q.name GROUP BY o.k
        ), running AS (
          SELECT concurrency_key AS k, count(*)::integer AS n FROM taiat_jobs
           WHERE status = 'running' AND queue = q.name AND concurrency_key IS NOT NULL GROUP BY concurrency_key
        ), limits AS (
          SELECT keys.k, keys.freed, coalesce(o.concurrency, q.key_concurrency) AS concurrency,
                 coalesce(o.rate_limit, q.key_rate_limit) AS rate_limit,
                 CASE WHEN o.rate_limit IS NOT NULL THEN o.rate_period_seconds ELSE q.key_rate_period_seconds END AS period
            FROM keys LEFT JOIN taiat_queue_keys o ON o.queue = q.name AND o.concurrency_key = keys.k
        )
        SELECT l.k, least(cap, l.freed, l.concurrency - coalesce(r.n, 0),
                      l.rate_limit - (SELECT count(*)::integer FROM taiat_rate_claims c
                                       WHERE l.rate_limit IS NOT NULL AND c.queue = q.name AND c.concurrency_key = l.k
                                         AND c.claimed_at > at - make_interval(secs => l.period))) AS room
          FROM limits l LEFT JOIN running r ON r.k = l.k
      ) caps WHERE caps.room > 0;
      -- The first jobs of each key in claim order. When every job found will be claimed (the
      -- rooms and the jobs without a key add up to no more than the claim wants), each is locked
      -- by the scan that finds it; else they are found first and the claim's share locked below
      -- (no job locked and left).
      locked := coalesce((SELECT sum(r) FROM unnest(rooms) r), 0) + cardinality(keyless_ids) <= cap;
      IF locked THEN
        keyed_ids := ARRAY(
          SELECT c.id FROM unnest(key_list, rooms) AS caps(k, room), LATERAL (
            SELECT id, priority, run_at FROM taiat_jobs
             WHERE queue = q.name AND concurrency_key = caps.k AND status = 'pending' AND pending_dependencies = 0 AND run_at <= now()
             ORDER BY priority DESC, run_at, id LIMIT caps.room
             FOR UPDATE SKIP LOCKED) AS c
           ORDER BY c.priority DESC, c.run_at, c.id);
      ELSE
        keyed_ids := ARRAY(
          SELECT c.id FROM unnest(key_list, rooms) AS caps(k, room), LATERAL (
            SELECT id, priority, run_at FROM taiat_jobs
             WHERE queue = q.name AND concurrency_key = caps.k AND status = 'pending' AND pending_dependencies = 0 AND run_at <= now()
             ORDER BY priority DESC, run_at, id LIMIT caps.room) AS c
           ORDER BY c.priority DESC, c.run_at, c.id LIMIT cap);
      END IF;
      IF locked AND cardinality(keyless_ids) = 0 THEN
        picked := keyed_ids;
      ELSE
        picked := ARRAY(
          SELECT j.id FROM taiat_jobs j
           WHERE j.id = ANY(keyed_ids || keyless_ids) AND j.status = 'pending' AND j.pending_dependencies = 0
           ORDER BY j.priority DESC, j.run_at, j.id LIMIT cap
           FOR UPDATE SKIP LOCKED);
      END IF;
    END IF;
    RETURN QUERY WITH claimed AS (
      UPDATE taiat_jobs j
         SET status = 'running', lease_owner = worker, lease_expires_at = clock_timestamp() + make_interval(secs => lease_seconds),
             attempts = j.attempts + 1, started_at = now(), updated_at = now(), cancel_requested_at = NULL,
             unique_slot = CASE WHEN j.unique_while = 'pending' THEN NULL ELSE j.unique_slot END
       WHERE j.id = ANY(picked)
      RETURNING j.*
    ), logged AS (
      INSERT INTO taiat_rate_claims (queue, concurrency_key, claimed_at)
      SELECT c.queue, c.concurrency_key, at FROM claimed c WHERE rated
    )
    SELECT * FROM claimed;
    GET DIAGNOSTICS n = ROW_COUNT;
    left_over := left_over - n;
    IF rated THEN
      -- Claims older than the queue's longest period count in no window again.
      DELETE FROM taiat_rate_claims
       WHERE queue = q.name AND claimed_at <= at - make_interval(secs => greatest(
         coalesce(q.rate_period_seconds, 0), coalesce(q.key_rate_period_seconds, 0),
         coalesce((SELECT max(rate_period_seconds) FROM taiat_queue_keys WHERE queue = q.name), 0)));
    END IF;
  END LOOP;
END $$;

DO $$
DECLARE
  acl aclitem[] := nullif(current_setting('taiat.claim_limited_acl', true), '')::aclitem[];
  f regprocedure := 'taiat_claim_limited(varchar[], varchar, integer, double precision, varchar[], varchar[])'::regprocedure;
  r record;
BEGIN
  -- NULL: the old function had the default grants, as the new one has.
  IF acl IS NULL THEN RETURN; END IF;
  IF NOT EXISTS (SELECT 1 FROM aclexplode(acl) a WHERE a.grantee = 0) THEN
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
  END IF;
  FOR r IN SELECT DISTINCT a.grantee FROM aclexplode(acl) a WHERE a.grantee <> 0 AND a.privilege_type = 'EXECUTE' LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', f, r.grantee::regrole);
  END LOOP;
END $$;
