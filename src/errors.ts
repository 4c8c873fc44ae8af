/**
 * Every error taiat throws on purpose is a `TaiatError` with a stable `code`: match on the code,
 * not on the message, which may be reworded.
 */
export const ERROR_CODES = [
  'TAIAT_INVALID_INPUT',
  'TAIAT_CONFIG_INVALID',
  'TAIAT_JOB_NOT_FOUND',
  'TAIAT_DUPLICATE_JOB_ID',
  'TAIAT_INVALID_STATE',
  'TAIAT_DEPENDENCY_UNKNOWN',
  'TAIAT_DEPENDENCY_SELF',
  'TAIAT_DEPENDENCY_CYCLE',
  'TAIAT_DEPENDENCY_FAILED',
  'TAIAT_DATABASE_UNAVAILABLE',
  'TAIAT_SCHEMA_NOT_CURRENT',
  'TAIAT_EMBEDDED_POSTGRES',
  'TAIAT_MODULE_LOAD_FAILED',
  'TAIAT_SCHEDULE_NOT_FOUND',
  'TAIAT_UNAUTHORIZED',
  'TAIAT_FORBIDDEN',
  'TAIAT_HISTORY_PARTITION',
] as const;

export type TaiatErrorCode = (typeof ERROR_CODES)[number];

export class TaiatError extends Error {
  readonly code: TaiatErrorCode;

  constructor(code: TaiatErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An input (an option, a job definition, a CLI argument) failed validation. */
export class ValidationError extends TaiatError {
  /** Dotted path of the offending field, e.g. `jobs[3].payload.agent_name`. */
  readonly field: string;

  constructor(field: string, reason: string, code: TaiatErrorCode = 'TAIAT_INVALID_INPUT') {
    super(code, field ? `${field}: ${reason}` : reason);
    this.field = field;
  }
}

export class JobNotFoundError extends TaiatError {
  readonly jobId: string;
  constructor(jobId: string) {
    super('TAIAT_JOB_NOT_FOUND', `job ${jobId} does not exist`);
    this.jobId = jobId;
  }
}

export class ScheduleNotFoundError extends TaiatError {
  readonly scheduleId: string;
  constructor(scheduleId: string) {
    super('TAIAT_SCHEDULE_NOT_FOUND', `schedule ${scheduleId} does not exist`);
    this.scheduleId = scheduleId;
  }
}

export class DuplicateJobIdError extends TaiatError {
  readonly jobIds: string[];
  constructor(jobIds: string[]) {
    super('TAIAT_DUPLICATE_JOB_ID', `job id already exists: ${jobIds.join(', ')}`);
    this.jobIds = jobIds;
  }
}

/** The job is not in a state that allows the operation (e.g. cancelling a finished job). */
export class InvalidStateError extends TaiatError {
  readonly jobId: string;
  readonly status: string;
  constructor(jobId: string, status: string, message: string) {
    super('TAIAT_INVALID_STATE', message);
    this.jobId = jobId;
    this.status = status;
  }
}

export type DependencyErrorCode = Extract<TaiatErrorCode, `TAIAT_DEPENDENCY_${string}`>;

/** A dependency is unknown, the job itself, part of a cycle, or already failed/cancelled. */
export class DependencyError extends TaiatError {
  /** The jobs involved: for a cycle, its path (first id repeated at the end). */
  readonly jobIds: string[];
  constructor(code: DependencyErrorCode, message: string, jobIds: string[]) {
    super(code, message);
    this.jobIds = jobIds;
  }
}

export class DatabaseUnavailableError extends TaiatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TAIAT_DATABASE_UNAVAILABLE', message, options);
  }
}

/**
 * What to run for a schema that is not current. In the default schema, the instance may simply be
 * elsewhere: `taiat init` there would make a second, empty one, so naming the schema comes first.
 */
export function initAdvice(schema: string | undefined): string {
  // 'public' is DEFAULT_SCHEMA (config/schema-name.ts), not imported: that module imports this one.
  if (schema === undefined) return 'run `taiat init`';
  if (schema !== 'public') return `run \`taiat init --schema ${schema}\``;
  return 'if your instance is in another schema, name it (--schema, TAIAT_SCHEMA or the schema option); else run `taiat init`';
}

export class SchemaNotCurrentError extends TaiatError {
  readonly missing: string[];
  /** The schema that was checked, when the check was of one. */
  readonly schema: string | undefined;
  constructor(missing: string[], schema?: string) {
    super(
      'TAIAT_SCHEMA_NOT_CURRENT',
      `the taiat schema is not current${schema === undefined ? '' : ` in schema ${schema}`} (missing: ${missing.join(', ')}); ${initAdvice(schema)}`,
    );
    this.missing = missing;
    this.schema = schema;
  }
}

/** A dashboard request without valid credentials (HTTP 401). */
export class UnauthorizedError extends TaiatError {
  constructor(message = 'authentication required') {
    super('TAIAT_UNAUTHORIZED', message);
  }
}

/** A dashboard request refused whoever makes it: an action in read-only mode, a failed CSRF check (HTTP 403). */
export class ForbiddenError extends TaiatError {
  constructor(message: string) {
    super('TAIAT_FORBIDDEN', message);
  }
}

/**
 * Partitioning history was refused (objects depend on it that the conversion cannot carry over)
 * or failed part-way and left something to clean up; the message says what (docs/operations.md).
 */
export class HistoryPartitionError extends TaiatError {
  /** The objects that depend on history, when that is why it was refused. */
  readonly dependents: string[];
  constructor(message: string, dependents: string[] = [], options?: { cause?: unknown }) {
    super('TAIAT_HISTORY_PARTITION', message, options);
    this.dependents = dependents;
  }
}
