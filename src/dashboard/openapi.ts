import { VERSION } from '../version.js';

// The HTTP API's description (OpenAPI 3.1), served at /api/openapi.json. Kept beside the routes
// and checked against them by a test: every route is described, every description routed.

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const ok = (description: string, schema: object = { type: 'object' }) => ({ 200: { description, ...json(schema) } });
const errors = { default: { description: 'An error: `{ error: { code, message, field? } }`', ...json(ref('Error')) } };
const idParam = (name: string, what: string) => ({ name, in: 'path', required: true, schema: { type: 'string' }, description: what });
const query = (name: string, description: string, schema: object = { type: 'string' }) => ({ name, in: 'query', required: false, schema, description });

const filterParams = [
  query('status', 'pending, running, completed, failed or cancelled', { type: 'string', enum: ['pending', 'running', 'completed', 'failed', 'cancelled'] }),
  query('queue', 'Queue name'), query('type', 'Job type'), query('name', 'Name prefix'), query('parent', 'Children of this job id'),
  query('since', 'Created at or after (ISO 8601)'), query('until', 'Created before (ISO 8601)'),
  query('payload', 'JSON object the payload contains, e.g. {"customer":42}'), query('result', 'JSON object the result contains'),
  query('location', 'live or history', { type: 'string', enum: ['live', 'history'] }),
];

const get = (summary: string, response: object, parameters: object[] = []) => ({ get: { summary, parameters, responses: { ...response, ...errors } } });
const post = (summary: string, parameters: object[], body?: object) => ({
  post: {
    summary, parameters,
    ...(body ? { requestBody: { required: false, ...json(body) } } : {}),
    responses: { ...ok('Done'), ...errors },
    description: 'Refused (403 TAIAT_FORBIDDEN) in read-only mode; from a browser session needs the `x-taiat-csrf` header (GET /api/session).',
  },
});

export const OPENAPI_PATHS: Record<string, object> = {
  '/api/session': get('Who is asking, read-only or not, and the CSRF token for actions', ok('The session')),
  '/api/overview': get('Counts by state, finished per minute (last hour) and per hour (last day), workers, queues, recent failures', ok('The overview')),
  '/api/jobs': get('Jobs, newest first, filtered; keyset pages', ok('A page', ref('JobPage')), [
    ...filterParams, query('limit', '1 to 500 (default 50)', { type: 'integer' }), query('after', 'The previous page\'s `next`'),
  ]),
  '/api/jobs/count': get('How many jobs the filters select (up to 10,000; `more` beyond)', ok('The count'), filterParams),
  '/api/jobs/{id}': get('A job: every field, its explanation, children, blast radius, actions taken on it', ok('The job'), [idParam('id', 'Job id')]),
  '/api/jobs/{id}/graph': get('The jobs around one, bounded', ok('A graph', ref('Graph')), [
    idParam('id', 'Job id'), query('depth', 'Steps each way, 1 to 50 (default 3)', { type: 'integer' }), query('max', 'Most nodes, up to 5000 (default 300)', { type: 'integer' }),
  ]),
  '/api/jobs/{id}/cancel-preview': get('What cancelling this job would cancel with it (read from the replica when there is one: may be a moment stale)', ok('The pending dependents'), [idParam('id', 'Job id')]),
  '/api/graph/{id}': get('The whole graph the job belongs to', ok('A graph', ref('Graph')), [idParam('id', 'Job id'), query('max', 'Most nodes (default 5000)', { type: 'integer' })]),
  '/api/queues': get('Queues with flow control and their counts', ok('The queues', { type: 'array' })),
  '/api/workers': get('Live and lost workers, and what each runs', ok('The workers')),
  '/api/schedules': get('The schedules', ok('The schedules', { type: 'array' })),
  '/api/actions': get('Actions taken through the dashboard, newest first', ok('The actions', { type: 'array' }), [query('target', 'Only on this job id, queue or schedule')]),
  '/api/jobs/{id}/retry': post('Retry a failed or cancelled job (with `dependents`: and what its failure cancelled)', [idParam('id', 'Job id')], { type: 'object', properties: { dependents: { type: 'boolean' } } }),
  '/api/jobs/{id}/cancel': post('Cancel a job and its pending dependents', [idParam('id', 'Job id')]),
  '/api/bulk/retry': post('Retry every job of a selection; refused if it no longer holds `expectedCount` jobs', [], ref('Bulk')),
  '/api/bulk/cancel': post('Cancel every job of a selection; refused if it no longer holds `expectedCount` jobs', [], ref('Bulk')),
  '/api/queues/{name}/pause': post('Pause a queue', [idParam('name', 'Queue')]),
  '/api/queues/{name}/resume': post('Resume a queue', [idParam('name', 'Queue')]),
  '/api/schedules/{id}/pause': post('Pause a schedule', [idParam('id', 'Schedule id')]),
  '/api/schedules/{id}/resume': post('Resume a schedule', [idParam('id', 'Schedule id')]),
  '/api/schedules/{id}/trigger': post('Run a schedule now', [idParam('id', 'Schedule id')]),
  '/api/openapi.json': get('This document', ok('OpenAPI 3.1')),
};

export function openApiDocument(): object {
  return {
    openapi: '3.1.0',
    info: { title: 'taiat dashboard API', version: VERSION, description: 'What the taiat dashboard shows and does. Errors use the library\'s codes.' },
    paths: OPENAPI_PATHS,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, basic: { type: 'http', scheme: 'basic' } },
      schemas: {
        Error: { type: 'object', properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } } } } },
        JobPage: { type: 'object', properties: { jobs: { type: 'array', items: { type: 'object' } }, next: { type: ['string', 'null'] } } },
        Graph: {
          type: 'object',
          properties: {
            nodes: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' }, state: { type: 'string' }, distance: { type: 'integer' }, more: { type: 'boolean' } } } },
            edges: { type: 'array', items: { type: 'object', properties: { from: { type: 'string' }, to: { type: 'string' }, kind: { type: 'string', enum: ['dependency', 'child'] } } } },
            truncated: { type: 'boolean' },
          },
        },
        Bulk: { type: 'object', required: ['filter', 'expectedCount'], properties: { filter: { type: 'object' }, expectedCount: { type: 'integer' }, dependents: { type: 'boolean' } } },
      },
    },
  };
}
