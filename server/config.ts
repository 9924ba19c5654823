import path from 'node:path';

/** Every environment variable the server reads (the compose test checks its files against this). */
export const CONFIG_VARIABLES = [
  'PORT',
  'AUGUR_HOST',
  'AUGUR_DATA_DIR',
  'AUGUR_DATABASE_URL',
  'AUGUR_REDIS_URL',
  'AUGUR_REDIS_PREFIX',
  'AUGUR_S3_BUCKET',
  'AUGUR_S3_ENDPOINT',
  'AUGUR_S3_REGION',
  'AUGUR_S3_FORCE_PATH_STYLE',
  'AUGUR_S3_PREFIX',
  'AUGUR_S3_PUBLIC_ENDPOINT',
  'AUGUR_PUBLIC_URL',
  'AUGUR_MAX_JSON_BYTES',
  'AUGUR_MAX_SCREENSHOT_BYTES',
  'AUGUR_SESSION_TTL',
  'AUGUR_TRUST_PROXY',
  'AUGUR_SCREENSHOT_READS',
  'AUGUR_ADMIN_EMAIL',
  'AUGUR_ADMIN_PASSWORD',
  'AUGUR_LOG_LEVEL',
  'AUGUR_SCRYPT_LOG_N',
  'AUGUR_COMMANDS_HOLD_MS',
  'AUGUR_COMMANDS_RECHECK_MS',
] as const;

export type ConfigVariable = (typeof CONFIG_VARIABLES)[number];
type Env = Partial<Record<string, string | undefined>>;

export interface S3Config {
  bucket: string;
  endpoint?: string;
  publicEndpoint?: string;
  region: string;
  forcePathStyle: boolean;
  prefix: string;
}

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
  /** A held poll re-checks the store this often, so a lost wake-up message only delays a command. */
  commandsRecheckMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

const MiB = 1024 * 1024;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Parses the environment once; every problem is collected so an operator fixes them in one go. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const str = (name: ConfigVariable): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const int = (name: ConfigVariable, def: number, min: number, max: number): number => {
    const raw = str(name);
    if (raw === undefined) return def;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name}=${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`);
      return def;
    }
    return Number(raw);
  };
  const bool = (name: ConfigVariable, def: boolean): boolean => {
    const raw = str(name)?.toLowerCase();
    if (raw === undefined) return def;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    problems.push(`${name}=${JSON.stringify(raw)}: expected true or false`);
    return def;
  };
  const url = (name: ConfigVariable, protocols: string[]): string | undefined => {
    const raw = str(name);
    if (raw === undefined) return undefined;
    try {
      const u = new URL(raw);
      if (!protocols.includes(u.protocol)) throw new Error('protocol');
      return raw;
    } catch {
      problems.push(`${name}=${JSON.stringify(redact(raw))}: expected a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);
      return undefined;
    }
  };

  const port = int('PORT', 8080, 0, 65535);
  const dataDir = path.resolve(str('AUGUR_DATA_DIR') ?? './data');
  const databaseUrl = url('AUGUR_DATABASE_URL', ['postgres:', 'postgresql:']);
  const redisUrl = url('AUGUR_REDIS_URL', ['redis:', 'rediss:']);
  const bucket = str('AUGUR_S3_BUCKET');
  if (bucket !== undefined && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    problems.push(`AUGUR_S3_BUCKET=${JSON.stringify(bucket)}: not a valid bucket name`);
  }
  const s3Prefix = (str('AUGUR_S3_PREFIX') ?? '').replace(/^\/+|\/+$/g, '');
  if (s3Prefix && !/^[A-Za-z0-9_.\-/]+$/.test(s3Prefix)) {
    problems.push(`AUGUR_S3_PREFIX=${JSON.stringify(s3Prefix)}: use letters, digits, _ . - and /`);
  }
  const s3Endpoint = url('AUGUR_S3_ENDPOINT', ['http:', 'https:']);
  const s3PublicEndpoint = url('AUGUR_S3_PUBLIC_ENDPOINT', ['http:', 'https:']);
  const forcePathStyle = bool('AUGUR_S3_FORCE_PATH_STYLE', false);
  const s3Vars: ConfigVariable[] = ['AUGUR_S3_ENDPOINT', 'AUGUR_S3_PUBLIC_ENDPOINT', 'AUGUR_S3_PREFIX', 'AUGUR_S3_FORCE_PATH_STYLE'];
  if (bucket === undefined) {
    for (const v of s3Vars) if (str(v) !== undefined) problems.push(`${v} is set but AUGUR_S3_BUCKET is not: set the bucket to use S3`);
  }
  const publicUrl = url('AUGUR_PUBLIC_URL', ['http:', 'https:']) ?? `http://localhost:${port}`;
  const screenshotReads = str('AUGUR_SCREENSHOT_READS') ?? 'proxy';
  if (screenshotReads !== 'proxy' && screenshotReads !== 'presign') {
    problems.push(`AUGUR_SCREENSHOT_READS=${JSON.stringify(screenshotReads)}: expected proxy or presign`);
  } else if (screenshotReads === 'presign' && bucket === undefined) {
    problems.push('AUGUR_SCREENSHOT_READS=presign needs the S3 object store (set AUGUR_S3_BUCKET)');
  }
  const logLevel = str('AUGUR_LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`AUGUR_LOG_LEVEL=${JSON.stringify(logLevel)}: expected one of ${LOG_LEVELS.join(', ')}`);
  const adminEmail = str('AUGUR_ADMIN_EMAIL');
  if (adminEmail !== undefined && !/^[^\s@]+@[^\s@]+$/.test(adminEmail)) {
    problems.push(`AUGUR_ADMIN_EMAIL=${JSON.stringify(adminEmail)}: not an email address`);
  }
  const adminPassword = str('AUGUR_ADMIN_PASSWORD');
  if (adminPassword !== undefined && adminPassword.length < 8) problems.push('AUGUR_ADMIN_PASSWORD: use at least 8 characters');

  const config: Config = {
    port,
    host: str('AUGUR_HOST') ?? '0.0.0.0',
    dataDir,
    databaseUrl,
    redisUrl,
    redisPrefix: str('AUGUR_REDIS_PREFIX') ?? 'augur:',
    s3:
      bucket === undefined
        ? undefined
        : {
            bucket,
            endpoint: s3Endpoint,
            publicEndpoint: s3PublicEndpoint,
            region: str('AUGUR_S3_REGION') ?? 'us-east-1',
            forcePathStyle,
            prefix: s3Prefix,
          },
    publicUrl: publicUrl.replace(/\/+$/, ''),
    maxJsonBytes: int('AUGUR_MAX_JSON_BYTES', 16 * MiB, 1024, 1024 * MiB),
    maxScreenshotBytes: int('AUGUR_MAX_SCREENSHOT_BYTES', 32 * MiB, 1024, 4096 * MiB),
    sessionTtlSeconds: duration(str('AUGUR_SESSION_TTL'), 7 * 86400, problems),
    trustProxy: trustProxy(str('AUGUR_TRUST_PROXY'), problems),
    screenshotReads: screenshotReads === 'presign' ? 'presign' : 'proxy',
    adminEmail,
    adminPassword,
    logLevel,
    scryptLogN: int('AUGUR_SCRYPT_LOG_N', 17, 10, 20),
    commandsHoldMs: int('AUGUR_COMMANDS_HOLD_MS', 25_000, 0, 120_000),
    commandsRecheckMs: int('AUGUR_COMMANDS_RECHECK_MS', 5_000, 100, 600_000),
  };
  if (problems.length) throw new ConfigError(problems);
  return config;
}

function duration(raw: string | undefined, def: number, problems: string[]): number {
  if (raw === undefined) return def;
  const m = /^(\d+)\s*([smhd]?)$/.exec(raw);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m?.[2] ?? ''] ?? 1;
  const seconds = m ? Number(m[1]) * unit : NaN;
  if (!(seconds >= 60 && seconds <= 366 * 86400)) {
    problems.push(`AUGUR_SESSION_TTL=${JSON.stringify(raw)}: expected seconds or a duration like 30m, 12h, 7d (1 minute to 366 days)`);
    return def;
  }
  return seconds;
}

/** Accepts what Express's "trust proxy" setting accepts: a boolean, a hop count, or addresses/subnets. */
function trustProxy(raw: string | undefined, problems: string[]): boolean | number | string {
  if (raw === undefined || raw === 'false' || raw === '0') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  const parts = raw.split(',').map((p) => p.trim());
  const ok = parts.every((p) => /^(loopback|linklocal|uniquelocal|[0-9a-fA-F:.]+(\/\d{1,3})?)$/.test(p));
  if (!ok) problems.push(`AUGUR_TRUST_PROXY=${JSON.stringify(raw)}: expected true, false, a hop count, or a comma-separated list of addresses/subnets`);
  return ok ? parts.join(',') : false;
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
