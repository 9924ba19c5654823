import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import type { ObjectStoreConfig } from '../storage/objects/types.js';
import { CONFIG_VARIABLES, environmentSchema, URL_FORMATS, VARIABLES, type ConfigVariable, type VariableSpec } from './config-schema.js';

export { CONFIG_VARIABLES, type ConfigVariable };
type Env = Partial<Record<string, string | undefined>>;

/** The object store's S3 settings as the environment gives them (credentials come from the AWS chain). */
export type S3Config = Omit<Extract<ObjectStoreConfig, { driver: 's3' }>, 'driver' | 'credentials'>;

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl?: string;
  redisUrl?: string;
  redisPrefix: string;
  s3?: S3Config;
  publicUrl: string;
  maxJsonBytes: number;
  /** Most JSON values (as server/http/json-scan.ts counts them) in one body. */
  maxJsonValues: number;
  maxScreenshotBytes: number;
  sessionTtlSeconds: number;
  trustProxy: boolean | number | string;
  screenshotReads: 'proxy' | 'presign';
  adminEmail?: string;
  adminPassword?: string;
  logLevel: string;
  /** log2 of scrypt's N. 17 is OWASP's recommendation; tests lower it to stay fast. */
  scryptLogN: number;
  /** How long GET /runs/{id}/commands holds a poll that finds nothing. The SDK gives up after 30 s (its 25 s poll + 5 s), so stay below that. */
  commandsHoldMs: number;
  /** Longest wait for one Postgres or S3 step; bounds how long a request meets a failing backend (README "Outages"). */
  backendTimeoutMs: number;
  /** A held poll re-checks the store this often, so a lost wake-up message only delays a command. */
  commandsRecheckMs: number;
  /** Bearer token of GET /api/v1/metrics; unset, the route is not served. */
  metricsToken?: string;
  /** Slowloris bound: the request line and headers must arrive within this. */
  headersTimeoutMs: number;
  /** A request body silent for this long is refused with 408. */
  bodyIdleTimeoutMs: number;
  /** SIGTERM → readyz 503 and serving on for this long, then the listener closes. */
  drainDelayMs: number;
  /** In-flight requests get this long after the listener closes. */
  drainTimeoutMs: number;
  /** Ingest requests per second a DSN key / a tenant may sustain (bursts of twice that); 0: no limit. */
  rateLimitPerKey: number;
  rateLimitPerTenant: number;
  /** Requests in flight on one replica past which ingest is shed (reads past twice that); 0: no bound. */
  maxInFlight: number;
  /** Event-loop delay (ms) past which ingest is shed (reads past twice that); 0: no bound. */
  maxEventLoopLagMs: number;
  /** Ingest requests of one tenant one replica works on at once (the rest wait their turn); 0: no cap. */
  tenantMaxInFlight: number;
  /** Ingest requests of one tenant that may wait for a slot on one replica; past it, 429. */
  tenantMaxQueued: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

const urlOf = (protocols: readonly string[]) => (raw: string) => {
  try {
    return protocols.includes(new URL(raw).protocol);
  } catch {
    return false;
  }
};

/** One validator for the environment schema: every problem at once, strings coerced to the declared types. */
const validateEnv = new Ajv({ allErrors: true, coerceTypes: true, useDefaults: true, strict: true })
  .addFormat('postgres-url', urlOf(URL_FORMATS['postgres-url']))
  .addFormat('redis-url', urlOf(URL_FORMATS['redis-url']))
  .addFormat('http-url', urlOf(URL_FORMATS['http-url']))
  .addFormat('duration', (raw: string) => duration(raw) !== undefined)
  .addFormat('trust-proxy', (raw: string) => trustProxy(raw) !== undefined)
  .compile(environmentSchema());

const BOOLEAN_WORDS: Record<string, string> = { '1': 'true', yes: 'true', on: 'true', '0': 'false', no: 'false', off: 'false' };

/** The environment's values: trimmed, blank ones dropped, boolean synonyms (1/yes/on, 0/no/off) spelled true/false. */
function readEnv(env: Env): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const v of VARIABLES as readonly VariableSpec[]) {
    const raw = env[v.name]?.trim();
    if (raw === undefined || raw === '') continue;
    out[v.name] = v.schema.type === 'boolean' ? (BOOLEAN_WORDS[raw.toLowerCase()] ?? raw.toLowerCase()) : raw;
  }
  return out;
}

const SPECS = new Map((VARIABLES as readonly VariableSpec[]).map((v) => [v.name, v]));

/** One line per variable Ajv refused, naming it, its value (passwords masked) and what was expected. */
function problemsOf(errors: ErrorObject[], raw: Env): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const e of errors) {
    const name = e.instancePath.slice(1);
    const spec = SPECS.get(name);
    if (!spec || seen.has(name)) continue;
    seen.add(name);
    const s = spec.schema;
    const expected = spec.expected ?? (s.type === 'integer' ? `an integer from ${s.minimum} to ${s.maximum}` : e.message ?? 'a valid value');
    out.push(spec.secret ? `${name}: use ${expected}` : `${name}=${JSON.stringify(redact(raw[name]!.trim()))}: expected ${expected}`);
  }
  return out;
}

/** Parses the environment once; every problem is collected so an operator fixes them in one go. */
export function loadConfig(env: Env = process.env): Config {
  const given = readEnv(env);
  const v = { ...given };
  const problems = validateEnv(v) ? [] : problemsOf(validateEnv.errors ?? [], env);
  // A refused value falls back to its default so the checks below still run on something sane.
  for (const spec of VARIABLES as readonly VariableSpec[]) {
    const ok = !problems.some((p) => p.startsWith(`${spec.name}=`) || p.startsWith(`${spec.name}:`));
    if (!ok) v[spec.name] = spec.default;
  }
  const str = (name: ConfigVariable) => v[name] as string | undefined;
  const num = (name: ConfigVariable) => v[name] as number;
  const bucket = str('AUGUR_S3_BUCKET');
  // "Set" is what the operator wrote, even when refused: one mistake is reported once.
  if (given.AUGUR_S3_BUCKET === undefined) {
    for (const name of ['AUGUR_S3_ENDPOINT', 'AUGUR_S3_PUBLIC_ENDPOINT', 'AUGUR_S3_PREFIX', 'AUGUR_S3_FORCE_PATH_STYLE'] as const) {
      if (given[name] !== undefined) problems.push(`${name} is set but AUGUR_S3_BUCKET is not: set the bucket to use S3`);
    }
    if (str('AUGUR_SCREENSHOT_READS') === 'presign') problems.push('AUGUR_SCREENSHOT_READS=presign needs the S3 object store (set AUGUR_S3_BUCKET)');
  }
  if (problems.length) throw new ConfigError(problems);
  const port = num('PORT');
  return {
    port,
    host: str('AUGUR_HOST')!,
    dataDir: path.resolve(str('AUGUR_DATA_DIR')!),
    databaseUrl: str('AUGUR_DATABASE_URL'),
    redisUrl: str('AUGUR_REDIS_URL'),
    redisPrefix: str('AUGUR_REDIS_PREFIX')!,
    s3:
      bucket === undefined
        ? undefined
        : {
            bucket,
            endpoint: str('AUGUR_S3_ENDPOINT'),
            publicEndpoint: str('AUGUR_S3_PUBLIC_ENDPOINT'),
            region: str('AUGUR_S3_REGION')!,
            forcePathStyle: v.AUGUR_S3_FORCE_PATH_STYLE as boolean,
            prefix: (str('AUGUR_S3_PREFIX') ?? '').replace(/^\/+|\/+$/g, ''),
          },
    publicUrl: (str('AUGUR_PUBLIC_URL') ?? `http://localhost:${port}`).replace(/\/+$/, ''),
    maxJsonBytes: num('AUGUR_MAX_JSON_BYTES'),
    maxJsonValues: num('AUGUR_MAX_JSON_VALUES'),
    maxScreenshotBytes: num('AUGUR_MAX_SCREENSHOT_BYTES'),
    sessionTtlSeconds: duration(str('AUGUR_SESSION_TTL')!)!,
    trustProxy: trustProxy(str('AUGUR_TRUST_PROXY')!)!,
    screenshotReads: str('AUGUR_SCREENSHOT_READS') as 'proxy' | 'presign',
    adminEmail: str('AUGUR_ADMIN_EMAIL'),
    adminPassword: str('AUGUR_ADMIN_PASSWORD'),
    logLevel: str('AUGUR_LOG_LEVEL')!,
    scryptLogN: num('AUGUR_SCRYPT_LOG_N'),
    commandsHoldMs: num('AUGUR_COMMANDS_HOLD_MS'),
    backendTimeoutMs: num('AUGUR_BACKEND_TIMEOUT_MS'),
    commandsRecheckMs: num('AUGUR_COMMANDS_RECHECK_MS'),
    metricsToken: str('AUGUR_METRICS_TOKEN'),
    headersTimeoutMs: num('AUGUR_HEADERS_TIMEOUT_MS'),
    bodyIdleTimeoutMs: num('AUGUR_BODY_IDLE_TIMEOUT_MS'),
    drainDelayMs: num('AUGUR_DRAIN_DELAY_MS'),
    drainTimeoutMs: num('AUGUR_DRAIN_TIMEOUT_MS'),
    rateLimitPerKey: num('AUGUR_RATE_LIMIT_PER_KEY'),
    rateLimitPerTenant: num('AUGUR_RATE_LIMIT_PER_TENANT'),
    maxInFlight: num('AUGUR_MAX_IN_FLIGHT'),
    maxEventLoopLagMs: num('AUGUR_MAX_EVENT_LOOP_LAG_MS'),
    tenantMaxInFlight: num('AUGUR_TENANT_MAX_IN_FLIGHT'),
    tenantMaxQueued: num('AUGUR_TENANT_MAX_QUEUED'),
  };
}

/** Seconds from `3600` or `30m`, `12h`, `7d`; undefined outside 1 minute to 366 days. */
function duration(raw: string): number | undefined {
  const m = /^(\d+)\s*([smhd]?)$/.exec(raw);
  if (!m) return undefined;
  const seconds = Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return seconds >= 60 && seconds <= 366 * 86400 ? seconds : undefined;
}

/** What Express's "trust proxy" setting accepts: a boolean, a hop count, or addresses/subnets; undefined otherwise. */
function trustProxy(raw: string): boolean | number | string | undefined {
  if (raw === 'false' || raw === '0') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  const parts = raw.split(',').map((p) => p.trim());
  const ok = parts.every((p) => /^(loopback|linklocal|uniquelocal|[0-9a-fA-F:.]+(\/\d{1,3})?)$/.test(p));
  return ok ? parts.join(',') : undefined;
}

/** The URL with its password masked (also redis://:secret@host, which has no user name). */
function redact(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.password) u.password = '***';
    return u.href.replace(/\/$/, raw.endsWith('/') ? '/' : '');
  } catch {
    return raw.replace(/\/\/([^:@/]*):([^@/]+)@/, '//$1:***@');
  }
}

/** One line per concern for the start-up log. */
export function describeBackends(config: Config): Record<'objects' | 'metadata' | 'presence', string> {
  return {
    objects: config.s3
      ? `s3 bucket=${config.s3.bucket} endpoint=${config.s3.endpoint ?? 'aws'}${config.s3.prefix ? ` prefix=${config.s3.prefix}` : ''}`
      : `fs ${path.join(config.dataDir, 'objects')}`,
    metadata: config.databaseUrl ? `postgres ${redact(config.databaseUrl)}` : `sqlite ${path.join(config.dataDir, 'augur.sqlite')}`,
    presence: config.redisUrl ? `redis ${redact(config.redisUrl)} prefix=${config.redisPrefix}` : 'memory (in-process)',
  };
}
