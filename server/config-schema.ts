/**
 * Every environment variable the server reads, declared once: its JSON Schema (what Ajv validates
 * and coerces), its default, and its documentation. server/config.ts validates the environment
 * with it, CONFIG_VARIABLES (which the compose test checks its files against) lists its names, and
 * `npm run docs:config` writes the README's configuration table from it.
 *
 * The order is the order problems are reported in and the README table's order.
 */

/** A JSON Schema for one variable's value, after trimming and coercion. */
export interface ValueSchema {
  type: 'string' | 'integer' | 'boolean';
  minimum?: number;
  maximum?: number;
  enum?: readonly string[];
  pattern?: string;
  minLength?: number;
  /** One of the formats config.ts registers: postgres-url, redis-url, http-url, duration, trust-proxy. */
  format?: string;
}

export interface VariableSpec {
  name: string;
  schema: ValueSchema;
  /** The value used when the variable is unset or blank (none: stays unset). */
  default?: string | number | boolean;
  /** The README's default column, when it says more than the default value. */
  defaultDoc?: string;
  doc: string;
  /** What a valid value looks like, for the problem report (integers with bounds say it themselves). */
  expected?: string;
  /** Never echo the value (a password); URLs are always shown with their password masked. */
  secret?: boolean;
}

const MiB = 1024 * 1024;

/** The URL formats config.ts registers, each with the protocols it accepts. */
export const URL_FORMATS = { 'postgres-url': ['postgres:', 'postgresql:'], 'redis-url': ['redis:', 'rediss:'], 'http-url': ['http:', 'https:'] } as const;

/** A variable holding a URL of one of the formats above; unset unless given. */
const url = <N extends string>(name: N, format: keyof typeof URL_FORMATS, defaultDoc: string, doc: string) => ({
  name,
  schema: { type: 'string', format } as ValueSchema,
  defaultDoc,
  doc,
  expected: `a URL starting with ${URL_FORMATS[format].map((p) => `${p}//`).join(' or ')}`,
});

export const VARIABLES = [
  { name: 'PORT', schema: { type: 'integer', minimum: 0, maximum: 65535 }, default: 8080, doc: 'HTTP port' },
  { name: 'AUGUR_HOST', schema: { type: 'string' }, default: '0.0.0.0', doc: 'address to bind' },
  { name: 'AUGUR_DATA_DIR', schema: { type: 'string' }, default: './data', doc: 'embedded backends: `objects/` and `augur.sqlite` live here' },
  url('AUGUR_DATABASE_URL', 'postgres-url', 'unset → SQLite', '`postgres://user:pass@host:5432/db`: metadata in Postgres'),
  url('AUGUR_REDIS_URL', 'redis-url', 'unset → in-process', '`redis://host:6379`: presence, append ledger, rate limits, message bus (see below)'),
  { name: 'AUGUR_REDIS_PREFIX', schema: { type: 'string' }, default: 'augur:', doc: 'prefix of every Redis key (several deployments can share one Redis)' },
  {
    name: 'AUGUR_S3_BUCKET',
    schema: { type: 'string', pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$' },
    defaultDoc: 'unset → files',
    doc: 'objects in this S3 / MinIO bucket',
    expected: 'a valid bucket name',
  },
  url('AUGUR_S3_ENDPOINT', 'http-url', 'AWS', 'e.g. `http://minio:9000`'),
  { name: 'AUGUR_S3_REGION', schema: { type: 'string' }, default: 'us-east-1', doc: 'the bucket\'s region (signed into every request)' },
  { name: 'AUGUR_S3_FORCE_PATH_STYLE', schema: { type: 'boolean' }, default: false, doc: '`true` for MinIO and LocalStack', expected: 'true or false' },
  {
    name: 'AUGUR_S3_PREFIX',
    schema: { type: 'string', pattern: '^[A-Za-z0-9_.\\-/]*$' },
    defaultDoc: 'empty',
    doc: 'key prefix inside the bucket',
    expected: 'letters, digits, _ . - and /',
  },
  url('AUGUR_S3_PUBLIC_ENDPOINT', 'http-url', 'the endpoint', 'endpoint browsers reach, for presigned screenshot URLs'),
  url(
    'AUGUR_PUBLIC_URL',
    'http-url',
    '`http://localhost:$PORT`',
    'the address agents reach this server at, with any base path (`https://augur.example/augur`): DSNs are `<AUGUR_PUBLIC_URL>/api/v1?token=…&tenant=…`',
  ),
  {
    name: 'AUGUR_SCREENSHOT_READS',
    schema: { type: 'string', enum: ['proxy', 'presign'] },
    default: 'proxy',
    doc: '`proxy` streams screenshots through Augur; `presign` (S3 only) redirects to a 5-minute presigned URL',
    expected: 'proxy or presign',
  },
  {
    name: 'AUGUR_LOG_LEVEL',
    schema: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    default: 'info',
    doc: 'pino level; logs are JSON on stderr and carry the request id',
    expected: 'one of fatal, error, warn, info, debug, trace, silent',
  },
  {
    name: 'AUGUR_ADMIN_EMAIL',
    schema: { type: 'string', pattern: '^[^\\s@]+@[^\\s@]+$' },
    defaultDoc: '`admin@localhost`',
    doc: 'the first admin\'s email, used on first start only',
    expected: 'an email address',
  },
  {
    name: 'AUGUR_ADMIN_PASSWORD',
    schema: { type: 'string', minLength: 8 },
    defaultDoc: 'generated',
    doc: 'the first admin\'s password, used on first start only (a generated one is printed once on stderr)',
    expected: 'at least 8 characters',
    secret: true,
  },
  {
    name: 'AUGUR_MAX_JSON_BYTES',
    schema: { type: 'integer', minimum: 1024, maximum: 1024 * MiB },
    default: 16 * MiB,
    defaultDoc: '`16777216` (16 MiB)',
    doc: 'largest JSON body, after gzip/deflate decompression (→ 413)',
  },
  {
    name: 'AUGUR_MAX_JSON_VALUES',
    schema: { type: 'integer', minimum: 1000, maximum: 100_000_000 },
    default: 500_000,
    defaultDoc: '`500000`',
    doc: 'most JSON values in one body, counted in one pass over its bytes before it is parsed: one per value and per object key, more for what costs the parser more (see Limits and leniency); bounds the time one body holds the event loop (→ 413)',
  },
  {
    name: 'AUGUR_MAX_SCREENSHOT_BYTES',
    schema: { type: 'integer', minimum: 1024, maximum: 4096 * MiB },
    default: 32 * MiB,
    defaultDoc: '`33554432` (32 MiB)',
    doc: 'largest screenshot upload (→ 413)',
  },
  {
    name: 'AUGUR_SESSION_TTL',
    schema: { type: 'string', format: 'duration' },
    default: '7d',
    doc: 'sign-in session lifetime: seconds or `30m`, `12h`, `7d`',
    expected: 'seconds or a duration like 30m, 12h, 7d (1 minute to 366 days)',
  },
  {
    name: 'AUGUR_TRUST_PROXY',
    schema: { type: 'string', format: 'trust-proxy' },
    default: 'false',
    doc:
      'Express trust-proxy setting behind a load balancer: a hop count (`1` behind one nginx), addresses/subnets, or `true`. Prefer a count or addresses: with `true` the client address comes from the left-most `X-Forwarded-For`, which a client can forge to dodge the per-address login limit',
    expected: 'true, false, a hop count, or a comma-separated list of addresses/subnets',
  },
  {
    name: 'AUGUR_SCRYPT_LOG_N',
    schema: { type: 'integer', minimum: 10, maximum: 20 },
    default: 17,
    doc: 'log2 of scrypt\'s N for password hashes. 17 is OWASP\'s recommendation; the tests lower it to stay fast. Do not lower it in production.',
  },
  {
    name: 'AUGUR_BACKEND_TIMEOUT_MS',
    schema: { type: 'integer', minimum: 200, maximum: 60_000 },
    default: 5_000,
    doc: 'longest wait for one Postgres, S3 or Redis step (connect, pool acquire, statement, one S3 attempt, an idle S3 body, one Redis command sent or queued); an S3 call with its retries gives up after twice this; see Outages',
  },
  {
    name: 'AUGUR_COMMANDS_HOLD_MS',
    schema: { type: 'integer', minimum: 0, maximum: 120_000 },
    default: 25_000,
    doc: 'longest hold of an intervention poll with no command (0–120000; the compose nginx reads upstreams for up to 120 s); keep it under the SDK\'s 30 s read timeout',
  },
  {
    name: 'AUGUR_COMMANDS_RECHECK_MS',
    schema: { type: 'integer', minimum: 100, maximum: 600_000 },
    default: 5_000,
    doc: 'a held poll looks for commands this often even without a wake-up (100–600000)',
  },
  {
    name: 'AUGUR_METRICS_TOKEN',
    schema: { type: 'string', minLength: 16 },
    defaultDoc: 'unset → no metrics endpoint',
    doc: 'bearer token of `GET /api/v1/metrics` (Prometheus text; see Metrics); at least 16 characters; unset, the path answers 404',
    expected: 'a string of at least 16 characters',
    secret: true,
  },
  {
    name: 'AUGUR_HEADERS_TIMEOUT_MS',
    schema: { type: 'integer', minimum: 100, maximum: 120_000 },
    default: 15_000,
    doc: 'a request\'s headers must arrive within this (slowloris bound, → 408 `request_timeout`); behind nginx they arrive at once',
  },
  {
    name: 'AUGUR_BODY_IDLE_TIMEOUT_MS',
    schema: { type: 'integer', minimum: 100, maximum: 300_000 },
    default: 30_000,
    doc: 'a request body that delivers no byte for this long is refused (408 `request_timeout`, connection closed); a slow body that keeps moving is not cut',
  },
  {
    name: 'AUGUR_DRAIN_DELAY_MS',
    schema: { type: 'integer', minimum: 0, maximum: 300_000 },
    default: 5_000,
    doc: 'after SIGTERM, `/readyz` answers 503 `draining` while the replica keeps serving this long, for the load balancer to notice (≥ its health-check interval × unhealthy threshold)',
  },
  {
    name: 'AUGUR_DRAIN_TIMEOUT_MS',
    schema: { type: 'integer', minimum: 1_000, maximum: 600_000 },
    default: 60_000,
    doc: 'then the listener closes and in-flight requests (uploads included) get this long to finish before their connections are cut; 60 s carries a 32 MiB screenshot at 4.5 Mbit/s',
  },
  {
    name: 'AUGUR_RATE_LIMIT_PER_KEY',
    schema: { type: 'integer', minimum: 0, maximum: 1_000_000 },
    default: 50,
    doc: 'ingest requests per second one DSN key may sustain (a token bucket refilled at this rate), with bursts of twice that; all replicas together too (0 disables; see Backpressure)',
  },
  {
    name: 'AUGUR_RATE_LIMIT_PER_TENANT',
    schema: { type: 'integer', minimum: 0, maximum: 1_000_000 },
    default: 150,
    doc: 'ingest requests per second all of a tenant\'s DSN keys together may sustain (a token bucket, as per key), with bursts of twice that (0 disables; see Backpressure)',
  },
  {
    name: 'AUGUR_MAX_IN_FLIGHT',
    schema: { type: 'integer', minimum: 0, maximum: 100_000 },
    default: 128,
    doc: 'requests one replica serves at once before it sheds ingest with 503 `overloaded`; reads are shed only past twice this; health checks and metrics never (0 disables; see Backpressure)',
  },
  {
    name: 'AUGUR_MAX_EVENT_LOOP_LAG_MS',
    schema: { type: 'integer', minimum: 0, maximum: 60_000 },
    default: 500,
    doc: 'event-loop delay (p99 over the last second) past which one replica sheds ingest with 503 `overloaded`; reads past twice this (0 disables; see Backpressure)',
  },
  {
    name: 'AUGUR_TENANT_MAX_IN_FLIGHT',
    schema: { type: 'integer', minimum: 0, maximum: 10_000 },
    default: 8,
    doc: 'ingest requests of one tenant one replica works on at once, from before the body is read to the answer; more wait their turn in that tenant\'s queue, so a flood from one tenant never has more than this many requests on the event loop (0 disables; see Backpressure)',
  },
  {
    name: 'AUGUR_TENANT_MAX_QUEUED',
    schema: { type: 'integer', minimum: 0, maximum: 100_000 },
    default: 64,
    doc: 'ingest requests of one tenant that may wait for one of those slots on one replica; past it, 429 `rate_limited` with `Retry-After: 1` (see Backpressure)',
  },
] as const satisfies readonly VariableSpec[];

/** Read by the AWS credential chain, not by Augur: documented beside Augur's own. */
export const AWS_CREDENTIALS_ROW = {
  name: '`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, …',
  default: '',
  doc: 'S3 credentials: the standard AWS credential chain (environment, profile, SSO, instance profile, IRSA)',
};

export type ConfigVariable = (typeof VARIABLES)[number]['name'];

/** Every environment variable the server reads (the compose test checks its files against this). */
export const CONFIG_VARIABLES: readonly ConfigVariable[] = VARIABLES.map((v) => v.name);

/** The JSON Schema of the whole (trimmed) environment. */
export function environmentSchema(): Record<string, unknown> {
  return {
    type: 'object',
    properties: Object.fromEntries(VARIABLES.map((v) => [v.name, { ...v.schema, ...('default' in v ? { default: v.default } : {}) }])),
  };
}

const cell = (s: string) => s.replace(/\|/g, '\\|');
const defaultCell = (v: VariableSpec) => v.defaultDoc ?? (v.default === undefined ? '' : `\`${String(v.default)}\``);

/** The README's configuration table, one row per variable. */
export function renderConfigTable(): string {
  const rows = (VARIABLES as readonly VariableSpec[]).map((v) => `| \`${v.name}\` | ${cell(defaultCell(v))} | ${cell(v.doc)} |`);
  const aws = `| ${AWS_CREDENTIALS_ROW.name} | ${AWS_CREDENTIALS_ROW.default} | ${AWS_CREDENTIALS_ROW.doc} |`;
  return ['| variable | default | meaning |', '|---|---|---|', ...rows, aws].join('\n');
}

export const TABLE_START = '<!-- config-table:start (npm run docs:config writes this table from server/config-schema.ts) -->';
export const TABLE_END = '<!-- config-table:end -->';

/** The README with its table between the markers replaced; throws when the markers are missing. */
export function withConfigTable(readme: string): string {
  const a = readme.indexOf(TABLE_START);
  const b = readme.indexOf(TABLE_END);
  if (a < 0 || b < a) throw new Error('README has no configuration table markers');
  return `${readme.slice(0, a + TABLE_START.length)}\n${renderConfigTable()}\n${readme.slice(b)}`;
}
