--! Previous: sha1:ae821ad9a7fc07490e390a6c7bcf8051a27985bd
--! Hash: sha1:1777d204959ff3084bc8b1ce8612a8886fbc5cc2

-- Flow control: paused queues, limits on running jobs per queue and per concurrency key, and
-- rate limits on claims. Limits are kept by the claim, in the database: a claim of a queue with
-- limits holds the queue's row lock to its commit, so such claims take turns, and each counts
-- with a snapshot taken after the lock was granted (see taiat_claim_limited).

ALTER TABLE taiat_jobs ADD COLUMN concurrency_key varchar CHECK (concurrency_key <> '');
ALTER TABLE taiat_job_history ADD COLUMN concurrency_key varchar;
-- Ready jobs of each key in claim order: a queue with key limits takes the first jobs of each key
-- that its limits allow, not the first jobs of the queue (a busy key holds back no other key).
CREATE INDEX taiat_jobs_ready_key_idx ON taiat_jobs (queue, concurrency_key, priority DESC, run_at, id)
  WHERE status = 'pending' AND pending_dependencies = 0 AND concurrency_key IS NOT NULL;
-- Running jobs of each key: what a key-limited claim counts (only jobs with a key pay for it).
CREATE INDEX taiat_jobs_running_key_idx ON taiat_jobs (queue, concurrency_key)
  WHERE status = 'running' AND concurrency_key IS NOT NULL;

-- A queue's flow control. A queue without a row (or whose row sets nothing) has none and is
-- claimed as before, by any worker serving it, as fast as its slots allow.
CREATE TABLE taiat_queues (
  name varchar PRIMARY KEY CHECK (name <> ''),
  paused boolean NOT NULL DEFAULT false,
  paused_at timestamptz,
  -- At most this many running jobs of the queue, across all workers.
  concurrency integer CHECK (concurrency > 0),
  -- At most this many running jobs of one concurrency key (unless taiat_queue_keys says otherwise).
  key_concurrency integer CHECK (key_concurrency > 0),
  -- At most rate_limit claims in any rate_period_seconds (a sliding window over taiat_rate_claims).
  rate_limit integer CHECK (rate_limit > 0),
  rate_period_seconds double precision CHECK (rate_period_seconds > 0),
  -- The same for each concurrency key (unless taiat_queue_keys says otherwise).
  key_rate_limit integer CHECK (key_rate_limit > 0),
  key_rate_period_seconds double precision CHECK (key_rate_period_seconds > 0),
  -- Some key has limits of its own in taiat_queue_keys.
  has_key_limits boolean NOT NULL DEFAULT false,
  -- The claim's bookkeeping for a queue with key limits: whether its last look found ready jobs
  -- without a key, and when it last looked (see taiat_claim_limited).
  keyless_seen boolean NOT NULL DEFAULT true,
  keyless_checked_at timestamptz,
  -- `module`: the limits were last set by an agents module's `queues` (at a worker's start); `api`: by the API or the CLI.
  source varchar NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'module')),
  updated_at timestamptz NOT NULL DEFAULT now(),
  controlled boolean GENERATED ALWAYS AS (paused OR concurrency IS NOT NULL OR key_concurrency IS NOT NULL OR rate_limit IS NOT NULL
                                          OR key_rate_limit IS NOT NULL OR has_key_limits) STORED,
  CHECK ((rate_limit IS NULL) = (rate_period_seconds IS NULL)),
  CHECK ((key_rate_limit IS NULL) = (key_rate_period_seconds IS NULL))
);

-- Limits of one concurrency key, in place of its queue's defaults.
CREATE TABLE taiat_queue_keys (
  queue varchar NOT NULL REFERENCES taiat_queues (name) ON DELETE CASCADE,
  concurrency_key varchar NOT NULL,
  concurrency integer CHECK (concurrency > 0),
  rate_limit integer CHECK (rate_limit > 0),
  rate_period_seconds double precision CHECK (rate_period_seconds > 0),
  PRIMARY KEY (queue, concurrency_key),
  CHECK ((rate_limit IS NULL) = (rate_period_seconds IS NULL)),
  CHECK (concurrency IS NOT NULL OR rate_limit IS NOT NULL)
);

-- The claims of rate-limited queues, kept for their longest period: the sliding windows count them.
CREATE TABLE taiat_rate_claims (
  queue varchar NOT NULL,
  concurrency_key varchar,
  claimed_at timestamptz NOT NULL
);
CREATE INDEX taiat_rate_claims_queue_idx ON taiat_rate_claims (queue, claimed_at);
CREATE INDEX taiat_rate_claims_key_idx ON taiat_rate_claims (queue, concurrency_key, claimed_at) WHERE concurrency_key IS NOT NULL;

-- The audit view gains the key, at its end.
CREATE OR REPLACE VIEW taiat_all_jobs AS
SELECT id, job_type, name, description, payload, dependencies, status, priority, queue,
       max_retries, retry_count, attempts, error_message, result, run_at, started_at,
       completed_at, NULL::double precision AS duration_seconds, created_at, updated_at,
       lease_owner AS worker_id, lease_expires_at, parent_id, step, NULL::varchar AS cause_job_id,
       attempt_errors, timeout_seconds, retry_delay_seconds, 'live'::varchar AS location,
       unique_key, schedule_id, schedule_tick, concurrency_key
  FROM taiat_jobs
UNION ALL
SELECT job_id, job_type, name, description, payload, dependencies, status, priority, queue,
       max_retries, retry_count, attempts, error_message, result, run_at, started_at,
       completed_at, duration_seconds, created_at, updated_at,
       worker_id, NULL::timestamptz, parent_id, step, cause_job_id,
       attempt_errors, timeout_seconds, retry_delay_seconds, 'history'::varchar,
       unique_key, schedule_id, schedule_tick, concurrency_key
  FROM taiat_job_history;

-- Claims ready jobs of the limited queues among `queues` (paused ones are skipped), at most
-- `want` in all, for `worker`'s lease; the queues without flow control are claimed by the
-- library's own statement, which leaves these out.
--
-- Why no limit can be exceeded under READ COMMITTED: a job becomes running only by a claim, and a
-- claim of a limited queue first locks the queue's row (FOR UPDATE, held to its commit). Each
-- statement after it reads a snapshot taken after the lock was granted (statements of a VOLATILE
-- function each take their own), so every claim of the queue before it, which released the lock
-- only by committing, is in the counts; jobs that finished meanwhile can only make the counts
-- too high, never too low. The rate window's time is the clock after the lock, so a queue's claim
-- times never go backwards. A crashed worker's jobs count as running until their leases are
-- rescued; leases run from the clock after the lock, not from the transaction's start (a claim
-- that waited long for the lock would hand out leases already spent, and a rescue would run the
-- jobs a second time while they still ran).
CREATE FUNCTION taiat_claim_limited(queues varchar[], worker varchar, want integer, lease_seconds double precision)
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
      -- The keys with ready jobs, one index probe each (a loose index scan), what each may still
      -- start (its running limit less its running jobs, its rate limit less its window), and the
      -- first of those jobs in claim order.
      keyed_ids := ARRAY(
        WITH RECURSIVE keys(k) AS (
          (SELECT concurrency_key FROM taiat_jobs
            WHERE queue = q.name AND status = 'pending' AND pending_dependencies = 0 AND concurrency_key IS NOT NULL
            ORDER BY concurrency_key LIMIT 1)
          UNION ALL
          SELECT (SELECT concurrency_key FROM taiat_jobs
                   WHERE queue = q.name AND status = 'pending' AND pending_dependencies = 0 AND concurrency_key IS NOT NULL
                     AND concurrency_key > keys.k
                   ORDER BY concurrency_key LIMIT 1)
            FROM keys WHERE keys.k IS NOT NULL
        ), running AS (
          SELECT concurrency_key AS k, count(*)::integer AS n FROM taiat_jobs
           WHERE status = 'running' AND queue = q.name AND concurrency_key IS NOT NULL GROUP BY concurrency_key
        ), limits AS (
          SELECT keys.k, coalesce(o.concurrency, q.key_concurrency) AS concurrency,
                 coalesce(o.rate_limit, q.key_rate_limit) AS rate_limit,
                 CASE WHEN o.rate_limit IS NOT NULL THEN o.rate_period_seconds ELSE q.key_rate_period_seconds END AS period
            FROM keys LEFT JOIN taiat_queue_keys o ON o.queue = q.name AND o.concurrency_key = keys.k
           WHERE keys.k IS NOT NULL
        ), caps AS (
          SELECT l.k, least(cap, l.concurrency - coalesce(r.n, 0),
                        l.rate_limit - (SELECT count(*)::integer FROM taiat_rate_claims c
                                         WHERE l.rate_limit IS NOT NULL AND c.queue = q.name AND c.concurrency_key = l.k
                                           AND c.claimed_at > at - make_interval(secs => l.period))) AS room
            FROM limits l LEFT JOIN running r ON r.k = l.k
        )
        SELECT c.id FROM caps, LATERAL (
          SELECT id, priority, run_at FROM taiat_jobs
           WHERE queue = q.name AND concurrency_key = caps.k AND status = 'pending' AND pending_dependencies = 0 AND run_at <= now()
           ORDER BY priority DESC, run_at, id LIMIT caps.room) AS c
         WHERE caps.room > 0
         ORDER BY c.priority DESC, c.run_at, c.id LIMIT cap);
      -- Jobs without a key are held by the queue's limits only. No index keeps them apart (one
      -- would cost every job without a key), so finding them walks the queue's ready jobs past
      -- the keyed ones: done while the last look found some, else at most once a second.
      keyless_ids := '{}';
      IF q.keyless_seen OR q.keyless_checked_at IS NULL OR q.keyless_checked_at < at - interval '1 second' THEN
        keyless_ids := ARRAY(
          SELECT id FROM taiat_jobs
           WHERE queue = q.name AND concurrency_key IS NULL AND status = 'pending' AND pending_dependencies = 0 AND run_at <= now()
           ORDER BY priority DESC, run_at, id LIMIT cap);
        IF cardinality(keyless_ids) = 0 OR NOT q.keyless_seen THEN
          UPDATE taiat_queues SET keyless_seen = cardinality(keyless_ids) > 0, keyless_checked_at = at WHERE name = q.name;
        END IF;
      END IF;
      picked := ARRAY(
        SELECT j.id FROM taiat_jobs j
         WHERE j.id = ANY(keyed_ids || keyless_ids) AND j.status = 'pending' AND j.pending_dependencies = 0
         ORDER BY j.priority DESC, j.run_at, j.id LIMIT cap
         FOR UPDATE SKIP LOCKED);
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
