/**
 * How the Python SDK (augur_sdk.streaming.DSN.parse) reads AUGUR_DSN, restated in TypeScript so
 * tests can check that what the server mints is what the SDK accepts:
 * - the DSN must be an absolute URL (a scheme and a host), else it is refused;
 * - `token` is the first `token=` query value and must be non-empty; `tenant` likewise, may be empty;
 * - the base URL is scheme://host[:port] plus the path without trailing slashes, no query or fragment;
 * - every call goes to `<base>/runs`, `<base>/heartbeat`, ... with `Authorization: Bearer <token>`.
 */
export interface SdkDsn {
  baseUrl: string;
  token: string;
  tenant: string;
}

export function parseDsnLikeTheSdk(raw: string): SdkDsn {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]+)([^?#]*)(?:\?([^#]*))?(?:#.*)?$/.exec(raw);
  if (!m) throw new Error(`DSN must be an absolute URL, got: ${JSON.stringify(raw)}`);
  const [, scheme, netloc, path, query = ''] = m;
  const qs = new URLSearchParams(query);
  const token = qs.get('token') ?? '';
  const tenant = qs.get('tenant') ?? '';
  if (!token) throw new Error(`DSN missing token=… query param: ${JSON.stringify(raw)}`);
  return { baseUrl: `${scheme}://${netloc}${path!.replace(/\/+$/, '')}`, token, tenant };
}
