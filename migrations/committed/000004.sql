--! Previous: sha1:022ff363c52decd65855720d0d4a18dae695b70e
--! Hash: sha1:f56210257704338bb328a358e2f1aa16df1a030c

-- Creating jobs from SQL: taiat_create_job(...) and taiat_create_jobs(jobs jsonb), for plain SQL,
-- triggers, other languages, and an application's own transaction. The same rules as the
-- library's createJob/createJobs (src/jobs/validation.ts, src/store/insert-jobs.ts): a bad job
-- raises an error whose DETAIL is a taiat error code and whose HINT names the field, and writes
-- nothing. The functions run with this schema as their search path, whatever the caller's.

-- Raises a taiat error: MESSAGE '<field>: <reason>', DETAIL the code, HINT the field.
CREATE FUNCTION taiat_raise(code text, field text, reason text) RETURNS void
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  RAISE EXCEPTION USING
    MESSAGE = CASE WHEN field = '' THEN reason ELSE field || ': ' || reason END,
    DETAIL = code, HINT = field;
END $$;

-- A time-ordered id, as the library makes them (UUIDv7: milliseconds, then random bits).
CREATE FUNCTION taiat_new_job_id() RETURNS varchar
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
           PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
           FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid::varchar
$$;

-- A text field: required or not, non-empty, at most max characters.
CREATE FUNCTION taiat_text_field(job jsonb, key text, what text, max int, required boolean, at text) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path FROM CURRENT AS $$
DECLARE v jsonb := job -> key;
BEGIN
  IF v IS NULL THEN
    IF required THEN PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || key, what || ' is required'); END IF;
    RETURN NULL;
  END IF;
  IF jsonb_typeof(v) <> 'string' THEN PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || key, what || ' must be a string'); END IF;
  IF v #>> '{}' = '' THEN PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || key, what || ' must not be empty'); END IF;
  IF char_length(v #>> '{}') > max THEN
    PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || key, what || ' must be at most ' || max || ' characters');
  END IF;
  RETURN v #>> '{}';
END $$;

-- A number field within bounds (NULL when absent).
CREATE FUNCTION taiat_number_field(job jsonb, key text, low float8, low_inclusive boolean, high float8, high_text text, integral boolean, at text)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE SET search_path FROM CURRENT AS $$
DECLARE v jsonb := job -> key; n float8;
BEGIN
  IF v IS NULL OR jsonb_typeof(v) = 'null' THEN RETURN NULL; END IF;
  IF jsonb_typeof(v) <> 'number' THEN PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || key, key || ' must be a number'); END IF;
  n := (v #>> '{}')::float8;
  IF integral AND n <> trunc(n) THEN PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || key, key || ' must be an integer'); END IF;
  IF n < low OR (NOT low_inclusive AND n = low) THEN
    PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || key,
      key || CASE WHEN low_inclusive THEN ' must not be negative' ELSE ' must be positive' END);
  END IF;
  IF n > high THEN PERFORM taiat_raise('TAIAT_INVALID_INPUT', at || key, key || ' must be at most ' || high_text); END IF;
  RETURN n;
END $$;

-- One job checked and normalised: every default filled in, priority as an integer. `at` names it
-- in errors ('' for taiat_create_job, 'jobs[3].' for taiat_create_jobs).
CREATE FUNCTION taiat_checked_job(job jsonb, at text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path FROM CURRENT AS $$
DECLARE
  unknown text;
  job_type text; payload jsonb; deps jsonb; prio jsonb; priority int; run_at timestamptz;
BEGIN
  IF jsonb_typeof(job) IS DISTINCT FROM 'object' THEN
    PERFORM taiat_raise('TAIAT_INVALID_INPUT', rtrim(at, '.'), 'a job must be an object');
  END IF;
  SELECT string_agg(k, ', ') INTO unknown FROM jsonb_object_keys(job) AS k
   WHERE k <> ALL (ARRAY['jobType', 'name', 'description', 'payload', 'dependencies', 'priority', 'maxRetries',
                         'queue', 'runAt', 'id', 'timeoutSeconds', 'retryDelaySeconds']);
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
  RETURN jsonb_build_object(
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

-- Checks and inserts a list of jobs, all or nothing, as the library's createJobs does; returns
-- the ids in the order given. `single`: errors name the fields alone (taiat_create_job).
-- `graph_checked`: the caller (the library) already checked the call's graph for cycles.
CREATE FUNCTION taiat_insert_jobs(jobs jsonb, single boolean, graph_checked boolean) RETURNS SETOF varchar
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
  n int;
  dup text; bad text; missing text; start varchar; cur varchar; path text;
  ready_channel text := CASE WHEN current_schema() = 'public' THEN 'taiat_jobs_ready' ELSE 'taiat_jobs_ready:' || current_schema() END;
BEGIN
  IF jsonb_typeof(jobs) IS DISTINCT FROM 'array' THEN PERFORM taiat_raise('TAIAT_INVALID_INPUT', 'jobs', 'must be an array of jobs'); END IF;
  n := jsonb_array_length(jobs);
  IF n > 100000 THEN PERFORM taiat_raise('TAIAT_INVALID_INPUT', 'jobs', 'has ' || n || ' jobs, more than the limit of 100000 per call'); END IF;
  IF n = 0 THEN RETURN; END IF;
  -- Scratch tables of this transaction (a trigger may call this many times in one).
  CREATE TEMP TABLE IF NOT EXISTS taiat_new_jobs (ord int, id varchar, chosen boolean, job jsonb, pending int) ON COMMIT DROP;
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
    PERFORM taiat_raise('TAIAT_DEPENDENCY_FAILED', '', 'dependency already ' || bad || '; needed by ' ||
      (SELECT string_agg(DISTINCT e.src, ', ') FROM taiat_new_edges e JOIN taiat_job_history h ON h.job_id = e.dst AND h.status <> 'completed'));
  END IF;
  SELECT string_agg(o.id, ', ' ORDER BY o.id) INTO missing FROM taiat_outside o
   WHERE NOT o.live AND NOT EXISTS (SELECT 1 FROM taiat_job_history h WHERE h.job_id = o.id);
  IF missing IS NOT NULL THEN
    PERFORM taiat_raise('TAIAT_DEPENDENCY_UNKNOWN', '', 'unknown dependency id(s): ' || missing || '; needed by ' ||
      (SELECT string_agg(DISTINCT coalesce(j.job ->> 'name', e.src), ', ') FROM taiat_new_edges e JOIN taiat_new_jobs j ON j.id = e.src
        JOIN taiat_outside o ON o.id = e.dst WHERE NOT o.live AND NOT EXISTS (SELECT 1 FROM taiat_job_history h WHERE h.job_id = o.id)));
  END IF;
  UPDATE taiat_new_jobs j SET pending = (
    SELECT count(*) FROM taiat_new_edges e
     WHERE e.src = j.id AND (EXISTS (SELECT 1 FROM taiat_new_jobs k WHERE k.id = e.dst)
                            OR EXISTS (SELECT 1 FROM taiat_outside o WHERE o.id = e.dst AND o.live)));
  INSERT INTO taiat_jobs (id, job_type, name, description, payload, dependencies, priority, max_retries, queue,
                          run_at, timeout_seconds, retry_delay_seconds, pending_dependencies, has_dependents)
  SELECT j.id, j.job ->> 'job_type', j.job ->> 'name', j.job ->> 'description', j.job -> 'payload', j.job -> 'dependencies',
         (j.job ->> 'priority')::int, (j.job ->> 'max_retries')::int, j.job ->> 'queue',
         coalesce((j.job ->> 'run_at')::timestamptz, now()), (j.job ->> 'timeout_seconds')::float8,
         (j.job ->> 'retry_delay_seconds')::float8, j.pending,
         j.id IN (SELECT dst FROM taiat_new_edges)
    FROM taiat_new_jobs j ORDER BY j.ord;
  -- Workers of the queues with a job ready now are woken when the transaction commits.
  PERFORM pg_notify(ready_channel, q) FROM (
    SELECT DISTINCT job ->> 'queue' AS q FROM taiat_new_jobs
     WHERE pending = 0 AND coalesce((job ->> 'run_at')::timestamptz, now()) <= now()) AS r;
  RETURN QUERY SELECT id FROM taiat_new_jobs ORDER BY ord;
END $$;

-- Creates jobs from a JSON array of objects shaped as the library's NewJob (jobType, name,
-- payload, dependencies, priority, maxRetries, queue, runAt, id, description, timeoutSeconds,
-- retryDelaySeconds); returns their ids in the order given.
CREATE FUNCTION taiat_create_jobs(jobs jsonb) RETURNS SETOF varchar
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  SELECT taiat_insert_jobs(jobs, false, false)
$$;

-- Creates one job; returns its id.
CREATE FUNCTION taiat_create_job(
  job_type varchar, name varchar, payload jsonb DEFAULT '{}', dependencies jsonb DEFAULT '[]',
  priority integer DEFAULT 2, queue varchar DEFAULT 'default', run_at timestamptz DEFAULT NULL,
  max_retries integer DEFAULT 3, id varchar DEFAULT NULL, description text DEFAULT NULL,
  timeout_seconds double precision DEFAULT NULL, retry_delay_seconds double precision DEFAULT NULL)
RETURNS varchar
LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  -- Arguments left NULL are left out, as absent fields of a NewJob (their defaults apply).
  SELECT taiat_insert_jobs(jsonb_build_array((
    SELECT coalesce(jsonb_object_agg(key, value), '{}') FROM jsonb_each(jsonb_build_object(
      'jobType', job_type, 'name', name, 'payload', payload, 'dependencies', dependencies, 'priority', priority,
      'queue', queue, 'runAt', run_at, 'maxRetries', max_retries, 'id', id, 'description', description,
      'timeoutSeconds', timeout_seconds, 'retryDelaySeconds', retry_delay_seconds)) WHERE value <> 'null')), true, false)
$$;

-- A worker records the interval of its heartbeat, so that --status calls it lost after three
-- missed beats rather than after a fixed time.
ALTER TABLE taiat_workers ADD COLUMN heartbeat_seconds double precision;
