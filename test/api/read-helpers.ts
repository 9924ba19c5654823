import { expect } from 'vitest';
import type { AppContext } from '../../server/context.js';
import { BundleKeys, type ScreenshotKind } from '../../server/services/bundle.js';
import { manifestFacts, traceFacts } from '../../server/services/run-facts.js';
import type { RunFacts } from '../../storage/metadata/index.js';

/** A tiny PNG (1×1, transparent). */
export const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64',
);

export interface SetCookie {
  name: string;
  value: string;
  attrs: Record<string, string | true>;
}

export function parseSetCookies(res: Response): SetCookie[] {
  return res.headers.getSetCookie().map((line) => {
    const [pair, ...rest] = line.split(';').map((s) => s.trim());
    const eq = pair!.indexOf('=');
    const attrs: Record<string, string | true> = {};
    for (const a of rest) {
      const i = a.indexOf('=');
      attrs[(i < 0 ? a : a.slice(0, i)).toLowerCase()] = i < 0 ? true : a.slice(i + 1);
    }
    return { name: pair!.slice(0, eq), value: decodeURIComponent(pair!.slice(eq + 1)), attrs };
  });
}

export function cookieNamed(res: Response, name: string): SetCookie | undefined {
  return parseSetCookies(res).find((c) => c.name === name);
}

/** Signs in; returns the Cookie header value and the response. */
export async function login(api: string, email: string, password: string, headers: Record<string, string> = {}): Promise<{ cookie: string; res: Response; token: string }> {
  const res = await fetch(`${api}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ email, password }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  const c = cookieNamed(res, 'augur_session');
  expect(c).toBeDefined();
  return { cookie: `augur_session=${c!.value}`, res, token: c!.value };
}

export const get = (url: string, cookieOrToken?: string, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(url, {
    headers: {
      ...(cookieOrToken === undefined ? {} : cookieOrToken.startsWith('augr_') || cookieOrToken.startsWith('aug_') ? { authorization: `Bearer ${cookieOrToken}` } : { cookie: cookieOrToken }),
      ...headers,
    },
    redirect: 'manual',
  });

export const send = (method: string, url: string, cookie: string | undefined, body?: unknown, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(url, {
    method,
    headers: { ...(cookie ? { cookie } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

export interface SeedRun {
  manifest?: Record<string, unknown> | false;
  steps?: Array<Record<string, unknown>>;
  trace?: Record<string, unknown>;
  events?: Array<{ step: number | 'run'; lines: unknown[] }>;
  logs?: Array<{ name: string; text: string }>;
  screenshots?: Array<[number, ScreenshotKind]>;
  modelio?: Array<[string, Record<string, unknown>]>;
  /** costs.json, as PUT /runs/{id}/costs stores it. */
  costs?: Record<string, unknown>;
  /** Index fields: default running, from the manifest. */
  status?: string;
  /** More index facts, as an ingest route would report them. */
  facts?: RunFacts;
  heartbeatAt?: number;
  at?: number;
}

/** Writes a run straight into the stores with the bundle's key layout, and indexes it. */
export async function seedRun(ctx: AppContext, tenantId: string, runId: string, s: SeedRun = {}): Promise<BundleKeys> {
  const { objects, metadata } = ctx.stores;
  const keys = new BundleKeys(tenantId, runId);
  const json = { contentType: 'application/json' };
  const now = s.at ?? ctx.now();
  const manifest = s.manifest === false ? undefined : { schema_version: '1.0', run_id: runId, client: { name: 'agent-x', version: '1.0' }, ...(s.manifest ?? {}) };
  if (manifest) {
    await objects.put(keys.manifest, JSON.stringify(manifest), json);
    await metadata.upsertManifest(tenantId, runId, manifestFacts(manifest, runId), now);
  }
  for (const step of s.steps ?? []) await objects.put(keys.step(step.step_index as number), JSON.stringify(step), json);
  if (s.trace) await objects.put(keys.trace, JSON.stringify(s.trace), json);
  for (const e of s.events ?? []) {
    await ctx.appends.append(keys.events(e.step), Buffer.from(e.lines.map((l) => `${JSON.stringify(l)}\n`).join('')), null, 'application/x-ndjson');
  }
  for (const l of s.logs ?? []) await ctx.appends.append(keys.log(l.name), Buffer.from(l.text), 1_048_576, 'text/plain');
  for (const [i, kind] of s.screenshots ?? []) await objects.put(keys.screenshot(i, kind), PNG, { contentType: 'image/png' });
  for (const [rel, doc] of s.modelio ?? []) await objects.put(keys.modelio(rel), JSON.stringify(doc), json);
  if (s.costs) await objects.put(keys.costs, JSON.stringify(s.costs), json);
  const stepCount = Math.max(0, ...(s.steps ?? []).map((x) => (x.step_index as number) + 1), ...((s.trace?.steps as Array<{ step_index: number }> | undefined) ?? []).map((x) => x.step_index + 1));
  ctx.runIndex.touch({
    tenant_id: tenantId,
    run_id: runId,
    seen_at: now,
    step_count: stepCount,
    ...(s.trace ? traceFacts(s.trace, runId) : {}),
    ...(s.facts ?? {}),
    ...(s.status ? { status: s.status } : {}),
    ...(s.heartbeatAt !== undefined ? { heartbeat_at: s.heartbeatAt } : {}),
  });
  await ctx.runIndex.flush();
  return keys;
}

/** Nothing secret in a body: no hashes, no password material. */
export function expectNoSecrets(text: string): void {
  expect(text).not.toMatch(/scrypt\$/);
  expect(text).not.toMatch(/password_hash|key_hash|token_hash/);
  expect(text).not.toMatch(/"password"/);
}
