--! Previous: sha1:1777d204959ff3084bc8b1ce8612a8886fbc5cc2
--! Hash: sha1:6b710499315f4af102a52edce5e2ec14c3e339d8

-- Creating jobs from SQL (taiat_create_jobs, and createJobs in an application's transaction)
-- learns concurrencyKey, with the library's rule (a non-empty string of at most 200 characters),
-- and stores it. Both functions are replaced in place, same signatures: grants on them are kept.
-- taiat_create_job and taiat_create_unique_job keep their parameters (a new one would mean a new
-- signature, dropping the grants given on the old one): a job with a key goes through
-- taiat_create_jobs.

CREATE OR REPLACE FUNCTION taiat_checked_job(job jsonb, at text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path FROM CURRENT AS $$
DECLARE
  unknown text;
  job_type text; payload jsonb; deps jsonb; prio jsonb; priority int; run_at timestamptz;
  unique_key text; unique_while text; unique_period float8; unique_mode text; concurrency_key text;
BEGIN
  IF jsonb_typeof(job) IS DISTINCT FROM 'object' THEN
    PERFORM taiat_raise('TAIAT_INVALID_INPUT', rtrim(at, '.'), 'a job must be an object');
  END IF;
  SELECT string_agg(k, ', ') INTO unknown FROM jsonb_object_keys(job) AS k
   WHERE k <> ALL (ARRAY['jobType', 'name', 'description', 'payload', 'dependencies', 'priority', 'maxRetries',
                         'queue', 'runAt', 'id', 'timeoutSeconds', 'retryDelaySeconds', 'uniqueKey', 'uniqueWhile',
                         'uniquePeriodSeconds', 'uniqueMode', 'concurrencyKey']);
  IF unknown IS NOT NULL THEN PERFORM taiat_raise('TAIAT_INVALID_INPUT', rtrim(at, '.'), 'unknown field(s): ' || unknown); END IF;
  job_type := taiat_text_field(job, 'jobType', 'jobType', 200, true, at);
  PERFORM taiat_text_field(job, 'name', 'name', 1000, true, at);
  IF job ? 'description' AND jsonb_typeof(job -> 'description') NOT IN ('string', 'null') THEN
    PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'description', 'description must be a string');
  END IF;
  IF char_length(job ->> 'description') > 100000 THEN
    PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'description', 'description must be at most 100000 characters');
  END IF;
  payload := coalesce(NULLIF(job -> 'payload', 'null'), '{}');
  IF jsonb_typeof(payload) <> 'object' THEN PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'payload', 'must be a JSON object'); END IF;
  IF octet_length(payload::text) > 1048576 THEN
    PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'payload', 'is ' || octet_length(payload::text) || ' bytes of JSON, more than the limit of 1048576');
  END IF;
  IF job_type = 'agent' THEN
    IF jsonb_typeof(payload -> 'agent_name') IS DISTINCT FROM 'string' OR payload ->> 'agent_name' = '' THEN
      PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'payload.agent_name', 'an agent job needs payload.agent_name (a non-empty string)');
    END IF;
    IF payload ? 'parameters' AND jsonb_typeof(payload -> 'parameters') <> 'object' THEN
      PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'payload.parameters', 'must be a JSON object');
    END IF;
  END IF;
  deps := coalesce(NULLIF(job -> 'dependencies', 'null'), '[]');
  IF jsonb_typeof(deps) <> 'array' THEN PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'dependencies', 'dependencies must be an array of job ids'); END IF;
  FOR i IN 0 .. jsonb_array_length(deps) - 1 LOOP
    PERFORM taiat_text_field(jsonb_build_object('dependencies.' || i, deps -> i), 'dependencies.' || i, 'a dependency id', 200, true, at);
  END LOOP;
  SELECT coalesce(jsonb_agg(d ORDER BY first), '[]') INTO deps
    FROM (SELECT d, min(n) AS first FROM jsonb_array_elements_text(deps) WITH ORDINALITY AS e(d, n) GROUP BY d) AS u;
  IF jsonb_array_length(deps) > 10000 THEN
    PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'dependencies', 'has ' || jsonb_array_length(deps) || ' entries, more than the limit of 10000');
  END IF;
  prio := job -> 'priority';
  IF prio IS NULL OR jsonb_typeof(prio) = 'null' THEN priority := 2;
  ELSIF jsonb_typeof(prio) = 'string' THEN
    priority := CASE prio #>> '{}' WHEN 'low' THEN 1 WHEN 'normal' THEN 2 WHEN 'high' THEN 3 WHEN 'urgent' THEN 4 END;
    IF priority IS NULL THEN
      PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'priority', 'unknown priority ''' || (prio #>> '{}') || ''' (expected low, normal, high, urgent or an integer)');
    END IF;
  ELSIF jsonb_typeof(prio) = 'number' THEN
    IF (prio #>> '{}')::numeric <> trunc((prio #>> '{}')::numeric) OR abs((prio #>> '{}')::numeric) > 1000000 THEN
      PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'priority', 'priority must be an integer between -1000000 and 1000000');
    END IF;
    priority := (prio #>> '{}')::int;
  ELSE
    PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'priority', 'priority must be one of low, normal, high, urgent or an integer');
  END IF;
  IF job ? 'runAt' AND jsonb_typeof(job -> 'runAt') <> 'null' THEN
    IF jsonb_typeof(job -> 'runAt') <> 'string' THEN
      PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'runAt', 'runAt must be a Date or an ISO 8601 string');
    END IF;
    BEGIN
      run_at := (job ->> 'runAt')::timestamptz;
    EXCEPTION WHEN OTHERS THEN
      PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'runAt', 'runAt is not a valid date');
    END;
  END IF;
  unique_key := taiat_text_field(job, 'uniqueKey', 'uniqueKey', 200, false, at);
  IF job ? 'uniqueWhile' AND (jsonb_typeof(job -> 'uniqueWhile') <> 'string' OR job ->> 'uniqueWhile' NOT IN ('pending', 'active', 'period')) THEN
    PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'uniqueWhile', 'uniqueWhile must be one of pending, active, period');
  END IF;
  IF job ? 'uniquePeriodSeconds' THEN
    IF jsonb_typeof(job -> 'uniquePeriodSeconds') <> 'number' THEN
      PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'uniquePeriodSeconds', 'uniquePeriodSeconds must be a number');
    END IF;
    unique_period := (job ->> 'uniquePeriodSeconds')::float8;
    IF unique_period < 1 THEN PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'uniquePeriodSeconds', 'uniquePeriodSeconds must be at least 1'); END IF;
    IF unique_period > 31536000 THEN PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'uniquePeriodSeconds', 'uniquePeriodSeconds must be at most a year'); END IF;
  END IF;
  IF job ? 'uniqueMode' AND (jsonb_typeof(job -> 'uniqueMode') <> 'string' OR job ->> 'uniqueMode' NOT IN ('keep', 'replace')) THEN
    PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'uniqueMode', 'uniqueMode must be keep or replace');
  END IF;
  IF unique_key IS NULL THEN
    IF job ? 'uniqueWhile' THEN PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'uniqueWhile', 'uniqueWhile needs a uniqueKey'); END IF;
    IF job ? 'uniquePeriodSeconds' THEN PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'uniquePeriodSeconds', 'uniquePeriodSeconds needs a uniqueKey'); END IF;
    IF job ? 'uniqueMode' THEN PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'uniqueMode', 'uniqueMode needs a uniqueKey'); END IF;
  ELSE
    IF job ? 'id' THEN PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'id', 'a job with a uniqueKey is known by its key and takes no id'); END IF;
    unique_while := coalesce(job ->> 'uniqueWhile', 'pending');
    unique_mode := coalesce(job ->> 'uniqueMode', 'keep');
    IF unique_while = 'period' AND unique_period IS NULL THEN
      PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'uniquePeriodSeconds', 'uniqueWhile ''period'' needs uniquePeriodSeconds');
    END IF;
    IF unique_while <> 'period' AND unique_period IS NOT NULL THEN
      PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'uniquePeriodSeconds', 'uniquePeriodSeconds goes with uniqueWhile ''period''');
    END IF;
    IF unique_while = 'period' AND unique_mode = 'replace' THEN
      PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || 'uniqueMode', 'uniqueMode ''replace'' goes with uniqueWhile ''pending'' or ''active''');
    END IF;
  END IF;
  concurrency_key := taiat_text_field(job, 'concurrencyKey', 'concurrencyKey', 200, false, at);
  RETURN jsonb_build_object(
    'unique_key', unique_key, 'unique_while', unique_while, 'unique_period_seconds', unique_period, 'unique_mode', unique_mode,
    'concurrency_key', concurrency_key,
    'id', taiat_text_field(job, 'id', 'id', 200, false, at),
    'job_type', job_type,
    'name', job ->> 'name',
    'description', job ->> 'description',
    'payload', payload,
    'dependencies', deps,
    'priority', priority,
    'max_retries', coalesce(taiat_number_field(job, 'maxRetries', 0, true, 1000, '1000', true, at), 3)::int,
    'queue', coalesce(taiat_text_field(job, 'queue', 'queue', 200, false, at), 'default'),
    'run_at', run_at,
    'timeout_seconds', taiat_number_field(job, 'timeoutSeconds', 0, false, 31536000, 'a year', false, at),
    'retry_delay_seconds', taiat_number_field(job, 'retryDelaySeconds', 0, true, 604800, 'a week', false, at));
END $$;


-- The same as in 000005.sql, with the concurrency key stored by both inserts.
CREATE OR REPLACE FUNCTION taiat_insert_jobs(jobs jsonb, single boolean, graph_checked boolean) RETURNS TABLE (id varchar, created boolean)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT SET client_min_messages = warning AS $$
#variable_conflict use_column
DECLARE
  n int;
  dup text; bad text; missing text; start varchar; cur varchar; path text; round int;
  ready_channel text := CASE WHEN current_schema() = 'public' THEN 'taiat_jobs_ready' ELSE 'taiat_jobs_ready:' || current_schema() END;
BEGIN
  IF jsonb_typeof(jobs) IS DISTINCT FROM 'array' THEN PERFORM taiat_raise('TAIAT_INVALID_INPUT', 'jobs', 'must be an array of jobs'); END IF;
  n := jsonb_array_length(jobs);
  IF n > 100000 THEN PERFORM taiat_raise('TAIAT_INVALID_INPUT', 'jobs', 'has ' || n || ' jobs, more than the limit of 100000 per call'); END IF;
  IF n = 0 THEN RETURN; END IF;
  -- Scratch tables of this transaction (a trigger may call this many times in one).
  -- result: the id answered for the job (its own, or the holder's of its unique key).
  CREATE TEMP TABLE IF NOT EXISTS taiat_new_jobs (ord int, id varchar, chosen boolean, job jsonb, pending int, result varchar) ON COMMIT DROP;
  CREATE TEMP TABLE IF NOT EXISTS taiat_new_edges (src varchar, dst varchar) ON COMMIT DROP;
  CREATE TEMP TABLE IF NOT EXISTS taiat_outside (id varchar PRIMARY KEY, live boolean) ON COMMIT DROP;
  TRUNCATE taiat_new_jobs, taiat_new_edges, taiat_outside;
  INSERT INTO taiat_new_jobs (ord, id, chosen, job)
  SELECT e.ord, coalesce(c.j ->> 'id', taiat_new_job_id()), c.j ->> 'id' IS NOT NULL, c.j
    FROM jsonb_array_elements(jobs) WITH ORDINALITY AS e(j, ord)
   CROSS JOIN LATERAL (SELECT taiat_checked_job(e.j, CASE WHEN single THEN '' ELSE 'jobs[' || (e.ord - 1) || '].' END) AS j) AS c;
  -- The graph inside the call: ids unique, no job on itself, no cycle.
  SELECT string_agg(id, ', ' ORDER BY id) INTO dup FROM (SELECT id FROM taiat_new_jobs GROUP BY id HAVING count(*) > 1) AS d;
  IF dup IS NOT NULL THEN PERFORM taiat_raise('TAIAT_DUPLICATE_JOB_ID', '', 'job id already exists: ' || dup); END IF;
  CREATE INDEX IF NOT EXISTS taiat_new_jobs_id ON taiat_new_jobs (id);
  INSERT INTO taiat_new_edges (src, dst)
  SELECT j.id, d.dep FROM taiat_new_jobs j CROSS JOIN LATERAL jsonb_array_elements_text(j.job -> 'dependencies') AS d(dep);
  SELECT e.src || ' (' || (j.job ->> 'name') || ')' INTO bad FROM taiat_new_edges e JOIN taiat_new_jobs j ON j.id = e.src WHERE e.src = e.dst LIMIT 1;
  IF bad IS NOT NULL THEN PERFORM taiat_raise('TAIAT_DEPENDENCY_SELF', '', 'job ' || bad || ' depends on itself'); END IF;
  IF NOT graph_checked THEN
    -- A job on a cycle reaches itself; the path is walked back through jobs that reach it.
    CREATE TEMP TABLE IF NOT EXISTS taiat_reach (src varchar, dst varchar) ON COMMIT DROP;
    TRUNCATE taiat_reach;
    INSERT INTO taiat_reach
    WITH RECURSIVE reach(src, dst) AS (
      SELECT e.src, e.dst FROM taiat_new_edges e JOIN taiat_new_jobs k ON k.id = e.dst
      UNION
      SELECT r.src, e.dst FROM reach r JOIN taiat_new_edges e ON e.src = r.dst JOIN taiat_new_jobs k ON k.id = e.dst
    ) SELECT src, dst FROM reach;
    SELECT src INTO start FROM taiat_reach WHERE src = dst ORDER BY src LIMIT 1;
    IF start IS NOT NULL THEN
      cur := start;
      path := start || ' (' || (SELECT job ->> 'name' FROM taiat_new_jobs WHERE id = start) || ')';
      LOOP
        SELECT e.dst INTO cur FROM taiat_new_edges e
         WHERE e.src = cur AND (e.dst = start OR EXISTS (SELECT 1 FROM taiat_reach r WHERE r.src = e.dst AND r.dst = start))
         ORDER BY e.dst = start DESC, e.dst LIMIT 1;
        path := path || ' -> ' || cur || ' (' || (SELECT job ->> 'name' FROM taiat_new_jobs WHERE id = cur) || ')';
        EXIT WHEN cur = start;
      END LOOP;
      PERFORM taiat_raise('TAIAT_DEPENDENCY_CYCLE', '', 'dependency cycle: ' || path);
    END IF;
  END IF;
  -- Chosen ids already taken, live or finished.
  SELECT string_agg(id, ', ' ORDER BY id) INTO dup FROM taiat_new_jobs n
   WHERE chosen AND (EXISTS (SELECT 1 FROM taiat_jobs j WHERE j.id = n.id) OR EXISTS (SELECT 1 FROM taiat_job_history h WHERE h.job_id = n.id));
  IF dup IS NOT NULL THEN PERFORM taiat_raise('TAIAT_DUPLICATE_JOB_ID', '', 'job id already exists: ' || dup); END IF;
  -- Dependencies outside the call: live ones locked (in id order) and flagged, completed ones
  -- satisfied, failed, cancelled and unknown ones refused.
  INSERT INTO taiat_outside (id, live)
  SELECT DISTINCT e.dst, false FROM taiat_new_edges e WHERE NOT EXISTS (SELECT 1 FROM taiat_new_jobs k WHERE k.id = e.dst);
  WITH live AS (
    UPDATE taiat_jobs SET has_dependents = true
     WHERE id IN (SELECT id FROM taiat_jobs WHERE id IN (SELECT id FROM taiat_outside) ORDER BY id FOR UPDATE)
    RETURNING id)
  UPDATE taiat_outside o SET live = true FROM live WHERE o.id = live.id;
  SELECT string_agg(h.job_id || ' (' || h.name || ') ' || h.status, ', ' ORDER BY h.job_id) INTO bad
    FROM taiat_outside o JOIN taiat_job_history h ON h.job_id = o.id WHERE NOT o.live AND h.status <> 'completed';
  IF bad IS NOT NULL THEN
    -- A job is named as its caller knows it, as the library does: by its id when the caller chose
    -- it, else by its name.
    PERFORM taiat_raise('TAIAT_DEPENDENCY_FAILED', '', 'dependency already ' || bad || '; needed by ' ||
      (SELECT string_agg(label, ', ' ORDER BY ord) FROM (
         SELECT DISTINCT j.ord, CASE WHEN j.chosen THEN j.id ELSE '''' || (j.job ->> 'name') || '''' END AS label
           FROM taiat_new_edges e JOIN taiat_new_jobs j ON j.id = e.src
           JOIN taiat_job_history h ON h.job_id = e.dst AND h.status <> 'completed') AS n));
  END IF;
  SELECT string_agg(o.id, ', ' ORDER BY o.id) INTO missing FROM taiat_outside o
   WHERE NOT o.live AND NOT EXISTS (SELECT 1 FROM taiat_job_history h WHERE h.job_id = o.id);
  IF missing IS NOT NULL THEN
    PERFORM taiat_raise('TAIAT_DEPENDENCY_UNKNOWN', '', 'unknown dependency id(s): ' || missing || '; needed by ' ||
      (SELECT string_agg(label, ', ' ORDER BY ord) FROM (
         SELECT DISTINCT j.ord, CASE WHEN j.chosen THEN j.id ELSE '''' || (j.job ->> 'name') || '''' END AS label
           FROM taiat_new_edges e JOIN taiat_new_jobs j ON j.id = e.src JOIN taiat_outside o ON o.id = e.dst
          WHERE NOT o.live AND NOT EXISTS (SELECT 1 FROM taiat_job_history h WHERE h.job_id = o.id)) AS n));
  END IF;
  UPDATE taiat_new_jobs j SET pending = (
    SELECT count(*) FROM taiat_new_edges e
     WHERE e.src = j.id AND (EXISTS (SELECT 1 FROM taiat_new_jobs k WHERE k.id = e.dst)
                            OR EXISTS (SELECT 1 FROM taiat_outside o WHERE o.id = e.dst AND o.live)));
  -- Unique keys. Within the call, the first job of a key stands for the others. A period key is
  -- taken from taiat_unique_keys unless held and unexpired (or its holder is gone); a live key is
  -- a slot under a partial unique index, taken by the insert itself.
  UPDATE taiat_new_jobs j SET result = f.id FROM (
    SELECT DISTINCT ON (job ->> 'unique_key') job ->> 'unique_key' AS k, id, ord FROM taiat_new_jobs
     WHERE job ->> 'unique_key' IS NOT NULL ORDER BY job ->> 'unique_key', ord) AS f
   WHERE j.job ->> 'unique_key' = f.k AND j.ord > f.ord;
  WITH taken AS (
    INSERT INTO taiat_unique_keys AS k (unique_key, job_id, until)
    SELECT job ->> 'unique_key', id, now() + make_interval(secs => (job ->> 'unique_period_seconds')::float8)
      FROM taiat_new_jobs WHERE job ->> 'unique_while' = 'period' AND result IS NULL
    ON CONFLICT (unique_key) DO UPDATE SET job_id = EXCLUDED.job_id, until = EXCLUDED.until WHERE k.until <= now()
    RETURNING unique_key)
  UPDATE taiat_new_jobs j SET result = k.job_id FROM taiat_unique_keys k
   WHERE j.job ->> 'unique_while' = 'period' AND j.result IS NULL AND k.unique_key = j.job ->> 'unique_key'
     AND k.unique_key NOT IN (SELECT unique_key FROM taken);
  FOR round IN 1 .. 3 LOOP
    INSERT INTO taiat_jobs AS t (id, job_type, name, description, payload, dependencies, priority, max_retries, queue,
                            run_at, timeout_seconds, retry_delay_seconds, pending_dependencies, has_dependents,
                            unique_key, unique_while, unique_slot, concurrency_key)
    SELECT j.id, j.job ->> 'job_type', j.job ->> 'name', j.job ->> 'description', j.job -> 'payload', j.job -> 'dependencies',
           (j.job ->> 'priority')::int, (j.job ->> 'max_retries')::int, j.job ->> 'queue',
           coalesce((j.job ->> 'run_at')::timestamptz, now()), (j.job ->> 'timeout_seconds')::float8,
           (j.job ->> 'retry_delay_seconds')::float8, j.pending,
           j.id IN (SELECT dst FROM taiat_new_edges),
           j.job ->> 'unique_key', j.job ->> 'unique_while',
           CASE WHEN j.job ->> 'unique_while' IN ('pending', 'active') THEN j.job ->> 'unique_key' END, j.job ->> 'concurrency_key'
      FROM taiat_new_jobs j WHERE j.result IS NULL AND coalesce(j.job ->> 'unique_mode', 'keep') = 'keep' ORDER BY j.ord
    ON CONFLICT (unique_slot) WHERE unique_slot IS NOT NULL DO NOTHING;
    INSERT INTO taiat_jobs AS t (id, job_type, name, description, payload, dependencies, priority, max_retries, queue,
                            run_at, timeout_seconds, retry_delay_seconds, pending_dependencies, has_dependents,
                            unique_key, unique_while, unique_slot, concurrency_key)
    SELECT j.id, j.job ->> 'job_type', j.job ->> 'name', j.job ->> 'description', j.job -> 'payload', j.job -> 'dependencies',
           (j.job ->> 'priority')::int, (j.job ->> 'max_retries')::int, j.job ->> 'queue',
           coalesce((j.job ->> 'run_at')::timestamptz, now()), (j.job ->> 'timeout_seconds')::float8,
           (j.job ->> 'retry_delay_seconds')::float8, j.pending, false,
           j.job ->> 'unique_key', j.job ->> 'unique_while', j.job ->> 'unique_key', j.job ->> 'concurrency_key'
      FROM taiat_new_jobs j WHERE j.result IS NULL AND j.job ->> 'unique_mode' = 'replace' ORDER BY j.ord
    ON CONFLICT (unique_slot) WHERE unique_slot IS NOT NULL
    DO UPDATE SET payload = EXCLUDED.payload, run_at = EXCLUDED.run_at, updated_at = now() WHERE t.status = 'pending';
    -- What was inserted answers for itself; a held key, for its holder. A holder that finished
    -- since (its slot free again) leaves the job unanswered, to insert on the next round.
    UPDATE taiat_new_jobs j SET result = j.id WHERE j.result IS NULL AND EXISTS (SELECT 1 FROM taiat_jobs t WHERE t.id = j.id);
    UPDATE taiat_new_jobs j SET result = t.id FROM taiat_jobs t
     WHERE j.result IS NULL AND t.unique_slot = j.job ->> 'unique_key';
    EXIT WHEN NOT EXISTS (SELECT 1 FROM taiat_new_jobs WHERE result IS NULL);
  END LOOP;
  IF EXISTS (SELECT 1 FROM taiat_new_jobs WHERE result IS NULL) THEN
    PERFORM taiat_raise('TAIAT_INVALID_STATE', '', 'the holder of a unique key kept changing; try again');
  END IF;
  -- Workers of the queues with a job ready now are woken when the transaction commits.
  PERFORM pg_notify(ready_channel, q) FROM (
    SELECT DISTINCT job ->> 'queue' AS q FROM taiat_new_jobs
     WHERE pending = 0 AND coalesce((job ->> 'run_at')::timestamptz, now()) <= now()) AS r;
  RETURN QUERY SELECT n.result, n.result = n.id FROM taiat_new_jobs n ORDER BY n.ord;
END $$;
