// The page reads and acts only through the public HTTP API (/api/...), relative to where it is
// served, so it works mounted under any path.

export interface Session { actor: string; readOnly: boolean; csrfToken: string; schema: string; version: string }

export class ApiError extends Error {
  constructor(readonly code: string, message: string, readonly field?: string) {
    super(message);
  }
}

const base = new URL('api/', document.baseURI);
let session: Session | undefined;

async function call<T>(path: string, init?: RequestInit): Promise<T> {
  const response = await fetch(new URL(path, base), { credentials: 'same-origin', ...init });
  const body = await response.json().catch(() => null) as { error?: { code: string; message: string; field?: string } } | null;
  if (!response.ok) throw new ApiError(body?.error?.code ?? 'HTTP', body?.error?.message ?? `HTTP ${response.status}`, body?.error?.field);
  return body as T;
}

export const get = <T>(path: string) => call<T>(path);

export async function getSession(): Promise<Session> {
  session ??= await get<Session>('session');
  return session;
}

export async function post<T>(path: string, body: unknown = {}): Promise<T> {
  const { csrfToken } = await getSession();
  return call<T>(path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-taiat-csrf': csrfToken }, body: JSON.stringify(body) });
}

/** The query string of a route's parameters, for the API. */
export const qs = (params: URLSearchParams) => (params.toString() ? `?${params}` : '');
