import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Key formats (documented in the README and the OpenAPI document):
 *   DSN key     aug_<8 hex public id>_<43 base64url chars = 256 random bits>
 *   read token  augr_<8 hex public id>_<43 base64url chars>
 * The part before the second underscore is the public prefix shown in lists and logs.
 */
export const DSN_KEY_RE = /^aug_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/;
export const READ_TOKEN_RE = /^augr_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/;

export interface MintedSecret {
  secret: string;
  prefix: string;
  hash: string;
}

function mint(kind: 'aug' | 'augr'): MintedSecret {
  const prefix = `${kind}_${randomBytes(4).toString('hex')}`;
  const secret = `${prefix}_${randomBytes(32).toString('base64url')}`;
  return { secret, prefix, hash: sha256(secret) };
}

export const mintDsnKey = (): MintedSecret => mint('aug');
export const mintReadToken = (): MintedSecret => mint('augr');

/** An opaque session token: 256 random bits; only its hash is stored. */
export function mintSessionToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: sha256(token) };
}

export function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** Constant-time equality of two hex digests. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The DSN in the SDK's format: `<AUGUR_PUBLIC_URL>/api/v1?token=<api_key>&tenant=<slug>`. The SDK
 * wants an absolute URL with a `token` query parameter; it drops the query (and a trailing slash)
 * to get its base URL and calls `<base>/runs`, `<base>/heartbeat`, ... with the token as a bearer.
 * `tenant` is informational (the key decides); it helps people tell DSNs apart.
 */
export function buildDsn(publicUrl: string, apiKey: string, tenantSlug: string): string {
  const u = new URL(publicUrl);
  const path = u.pathname.replace(/\/+$/, '');
  const query = new URLSearchParams({ token: apiKey, tenant: tenantSlug });
  return `${u.protocol}//${u.host}${path}/api/v1?${query.toString()}`;
}

/** The line a user pastes into the agent's shell. A DSN holds no quote, so single quotes are safe. */
export function dsnExportLine(dsn: string): string {
  return `export AUGUR_DSN='${dsn}'`;
}

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

// N = 2^17 needs 128 MiB (128·N·r bytes); Node's default maxmem of 32 MiB would throw.
const MAXMEM = 256 * 1024 * 1024;

/** scrypt$<log2 N>$<r>$<p>$<salt>$<hash>, OWASP parameters by default (N=2^17, r=8, p=1). */
export async function hashPassword(password: string, logN = 17): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, 32, { N: 2 ** logN, r: 8, p: 1, maxmem: MAXMEM });
  return `scrypt$${logN}$8$1$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [alg, logN, r, p, salt, hash] = stored.split('$');
  if (alg !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, {
    N: 2 ** Number(logN),
    r: Number(r),
    p: Number(p),
    maxmem: MAXMEM,
  });
  return timingSafeEqual(key, expected);
}

/** A throwaway password for first start when none is configured. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
