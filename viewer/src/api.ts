/** The JSON API, same origin, session cookie. Every error becomes an HttpError with the API's code. */
export const API = '/api/v1';

export class HttpError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public requestId?: string,
  ) {
    super(message);
  }
}

async function fail(res: Response): Promise<never> {
  let code = 'http_error';
  let detail = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as { code?: string; detail?: string };
    if (body.code) code = body.code;
    if (body.detail) detail = body.detail;
  } catch {
    // not JSON: keep the status line
  }
  // A session that ended while the app was open: the shell goes back to the sign-in form.
  if (res.status === 401 && code !== 'invalid_login') window.dispatchEvent(new Event(SIGNED_OUT));
  throw new HttpError(res.status, code, detail, res.headers.get('x-request-id') ?? undefined);
}

export const SIGNED_OUT = 'augur:signed-out';

async function send(path: string, init: RequestInit = {}): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(`${API}${path}`, { credentials: 'same-origin', ...init });
  } catch (e) {
    throw new HttpError(0, 'network', `Augur did not answer (${(e as Error).message})`);
  }
  if (!res.ok && res.status !== 304) await fail(res);
  return res;
}

export async function getJson<T>(path: string): Promise<T> {
  return (await (await send(path, { headers: { Accept: 'application/json' } })).json()) as T;
}

/** A document that may not exist (yet): undefined on 404. */
export async function getMaybe<T>(path: string): Promise<T | undefined> {
  try {
    return await getJson<T>(path);
  } catch (e) {
    if (e instanceof HttpError && e.status === 404) return undefined;
    throw e;
  }
}

export async function getText(path: string): Promise<string | undefined> {
  try {
    return await (await send(path)).text();
  } catch (e) {
    if (e instanceof HttpError && e.status === 404) return undefined;
    throw e;
  }
}

/** A JSON-lines file: one object per line, unparsable lines kept as text. */
export async function getJsonl(path: string): Promise<Array<Record<string, unknown>> | undefined> {
  const text = await getText(path);
  if (text === undefined) return undefined;
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return { summary: l };
      }
    });
}

/** A GET that remembers the ETag and sends If-None-Match: `undefined` means not modified. */
export class Conditional<T> {
  private etag?: string;
  constructor(private path: string) {}
  async get(): Promise<T | undefined> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.etag) headers['If-None-Match'] = this.etag;
    const res = await send(this.path, { headers, cache: 'no-cache' });
    if (res.status === 304) return undefined;
    this.etag = res.headers.get('etag') ?? undefined;
    return (await res.json()) as T;
  }
}

/** A cookie-borne write: JSON body, same origin (the server's CSRF rules). */
export async function write<T = unknown>(method: 'POST' | 'DELETE' | 'PUT', path: string, body?: unknown): Promise<T | undefined> {
  const init: RequestInit = { method, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers = { ...init.headers, 'Content-Type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  const res = await send(path, init);
  if (res.status === 204) return undefined;
  const text = await res.text();
  return text ? (JSON.parse(text) as T) : undefined;
}

export const runPath = (id: string): string => `/runs/${encodeURIComponent(id)}`;
export const nnnn = (i: number): string => String(i).padStart(4, '0');

/** Routes the server has, from its OpenAPI document: parts of the API that may not have landed yet. */
let routes: Promise<Set<string>> | undefined;
export function serverRoutes(): Promise<Set<string>> {
  routes ??= getJson<{ paths?: Record<string, Record<string, unknown>> }>('/openapi.json')
    .then((doc) => {
      const out = new Set<string>();
      for (const [p, ops] of Object.entries(doc.paths ?? {})) for (const m of Object.keys(ops)) out.add(`${m.toUpperCase()} ${p}`);
      return out;
    })
    .catch(() => new Set<string>());
  return routes;
}
