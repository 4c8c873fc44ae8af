import type { ColumnType, Generated } from 'kysely';
import type { JsonObject, JsonValue } from '../jobs/model.js';

type Json<T> = ColumnType<T, string, string>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type GeneratedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;

/** One failed attempt, as recorded in `attempt_errors`. */
export interface AttemptErrorRow {
  attempt: number;
  error: string;
  at: string;
  worker_id: string | null;
}

export interface JobsTable {
  id: string;
  job_type: string;
  name: string;
  description: string | null;
  payload: Json<JsonObject>;
  dependencies: Json<string[]>;
  max_retries: Generated<number>;
  retry_count: Generated<number>;
  status: Generated<'pending' | 'running'>;
  error_message: string | null;
  result: Json<JsonValue> | null;
  started_at: Timestamp | null;
  completed_at: Timestamp | null;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
  priority: Generated<number>;
  queue: Generated<string>;
  run_at: GeneratedTimestamp;
  pending_dependencies: Generated<number>;
  has_dependents: Generated<boolean>;
  attempts: Generated<number>;
  timeout_seconds: number | null;
  retry_delay_seconds: number | null;
  lease_owner: string | null;
  lease_expires_at: Timestamp | null;
  cancel_requested_at: Timestamp | null;
  attempt_errors: Json<AttemptErrorRow[]>;
  parent_id: string | null;
  step: Generated<number>;
  unique_key: string | null;
  unique_while: 'pending' | 'active' | 'period' | null;
  unique_slot: string | null;
  schedule_id: string | null;
  schedule_tick: Timestamp | null;
  concurrency_key: string | null;
  trace_context: string | null;
  progress: Json<JsonValue> | null;
}

export interface JobHistoryTable {
  id: string;
  job_id: string;
  job_type: string;
  name: string;
  description: string | null;
  payload: Json<JsonObject>;
  dependencies: Json<string[]>;
  status: 'completed' | 'failed' | 'cancelled';
  error_message: string | null;
  result: Json<JsonValue> | null;
  started_at: Timestamp | null;
  completed_at: GeneratedTimestamp;
  duration_seconds: number | null;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
  priority: Generated<number>;
  queue: Generated<string>;
  run_at: GeneratedTimestamp;
  max_retries: Generated<number>;
  retry_count: Generated<number>;
  attempts: Generated<number>;
  timeout_seconds: number | null;
  retry_delay_seconds: number | null;
  worker_id: string | null;
  attempt_errors: Json<AttemptErrorRow[]>;
  parent_id: string | null;
  step: Generated<number>;
  cause_job_id: string | null;
  unique_key: string | null;
  unique_while: 'pending' | 'active' | 'period' | null;
  schedule_id: string | null;
  schedule_tick: Timestamp | null;
  concurrency_key: string | null;
  trace_context: string | null;
  progress: Json<JsonValue> | null;
}

export interface WorkersTable {
  id: string;
  hostname: string;
  pid: number;
  queues: Json<string[]>;
  concurrency: number;
  version: string;
  started_at: GeneratedTimestamp;
  last_heartbeat_at: GeneratedTimestamp;
  stopped_at: Timestamp | null;
  heartbeat_seconds: number | null;
  agents: Json<string[]>;
  schedules: Json<string[]>;
}

/** The `taiat_all_jobs` view: one row per job, live or finished. */
export interface AllJobsView {
  id: string;
  job_type: string;
  name: string;
  description: string | null;
  payload: JsonObject;
  dependencies: string[];
  status: 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';
  priority: number;
  queue: string;
  max_retries: number;
  retry_count: number;
  attempts: number;
  error_message: string | null;
  result: JsonValue | null;
  run_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  duration_seconds: number | null;
  created_at: Date;
  updated_at: Date;
  worker_id: string | null;
  lease_expires_at: Date | null;
  parent_id: string | null;
  step: number;
  cause_job_id: string | null;
  attempt_errors: AttemptErrorRow[];
  timeout_seconds: number | null;
  retry_delay_seconds: number | null;
  location: 'live' | 'history';
  unique_key: string | null;
  schedule_id: string | null;
  schedule_tick: Date | null;
  concurrency_key: string | null;
  trace_context: string | null;
  progress: JsonValue | null;
}

export interface Database {
  taiat_jobs: JobsTable;
  taiat_job_history: JobHistoryTable;
  taiat_workers: WorkersTable;
  taiat_all_jobs: AllJobsView;
}
