import type { Hono } from 'hono';
import type { Sql } from '../db/connection.js';
import type { JobManager } from '../manager/job-manager.js';
import type { SchemaNames } from '../store/index.js';
import type { SecurityVariables } from './security.js';

/** What every route of one dashboard handler shares. */
export interface DashboardContext {
  /** The actions' own statements on the primary: the checks that guard them and their record. */
  sql: Sql;
  /** The pages' reads (the dashboard's pool): on the read replica when there is one, else the same pool. */
  reads: Sql;
  t: SchemaNames;
  /** Actions go through the library's API, as a program's would. */
  jobs: JobManager;
  readOnly: boolean;
  csrfToken: string;
  /** Called after every action: shared readings it made stale are dropped. */
  readonly afterAction: (() => void)[];
}

export type DashboardApp = Hono<{ Variables: SecurityVariables }>;
