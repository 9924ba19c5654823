/**
 * The fault suite's load and bookkeeping: SDK-shaped requests (events with an Idempotency-Key,
 * step PUTs, logs, heartbeats, reads of what was written) spread over two replicas, every answer
 * recorded with its status, code, Retry-After and how long it took.
 */
import { makePng, pngForm } from '../api/ingest-fixtures.js';
import { rid } from '../helpers/backends.js';

export type Kind = 'events' | 'step' | 'log' | 'heartbeat' | 'screenshot' | 'read-events' | 'list-runs' | 'read-step' | 'read-screenshot';
export const KINDS: Kind[] = ['events', 'step', 'log', 'heartbeat', 'screenshot', 'read-events', 'list-runs', 'read-step', 'read-screenshot'];

export interface Answer {
  kind: Kind;
  replica: number;
  status: number;
  code?: string;
  retryAfter: string | null;
  ms: number;
  /** When it was sent, ms since the load started. */
  at: number;
  seq: number;
  /** A network failure (the server closed the connection, or the client gave up). */
  error?: string;
}

export interface Target {
  apis: string[];
  dsnKey: string;
  cookie: string;
  runId: string;
}

/** Longest the load waits for one answer; past it the answer counts as missing (a failure). */
const CLIENT_TIMEOUT_MS = 30_000;

export class Load {
  readonly answers: Answer[] = [];
  /** Sequence numbers of the events and steps the server acknowledged (2xx). */
  readonly ackedEvents = new Set<number>();
  readonly ackedSteps = new Set<number>();
  readonly ackedShots = new Set<number>();
  private seq = 0;
  private stopped = false;
  private readonly started = Date.now();
  private workers: Promise<void>[] = [];

  constructor(private readonly t: Target) {}

  start(workers = 4): void {
    this.workers = Array.from({ length: workers }, () => this.loop());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.workers);
  }

  /** Ms since the load started. */
  now(): number {
    return Date.now() - this.started;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const seq = this.seq++;
      const kind = KINDS[seq % KINDS.length]!;
      await this.one(kind, seq, seq % this.t.apis.length);
    }
  }

  /** Sends one request of a kind and records its answer. */
  async one(kind: Kind, seq: number, replica: number, key = this.t.dsnKey): Promise<Answer> {
    const api = this.t.apis[replica]!;
    const run = this.t.runId;
    const dsn = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const reader = { cookie: this.t.cookie };
    let req: { url: string; init: RequestInit };
    const ts = new Date().toISOString();
    switch (kind) {
      case 'events':
        req = {
          url: `${api}/runs/${run}/events`,
          init: {
            method: 'POST',
            headers: { ...dsn, 'idempotency-key': `ev-${run}-${seq}` },
            body: JSON.stringify({ events: [{ ts, layer: 'planner', kind: 'decision', summary: `probe ${seq}`, detail: { seq } }] }),
          },
        };
        break;
      case 'step':
        req = {
          url: `${api}/runs/${run}/steps/${seq}`,
          init: {
            method: 'PUT',
            headers: dsn,
            body: JSON.stringify({
              step_id: `${run}/step/${seq}`,
              step_index: seq,
              step_type: 'click',
              intent: `probe ${seq}`,
              status: 'succeeded',
              started_at: ts,
              ended_at: ts,
              duration_ms: 5,
              action: { type: 'click', params: { x: 1, y: 2 }, coordinate_space: 'viewport_css_px' },
              verdict: { status: 'passed', reason: 'ok' },
            }),
          },
        };
        break;
      case 'log':
        req = { url: `${api}/runs/${run}/logs`, init: { method: 'POST', headers: { ...dsn, 'idempotency-key': `log-${run}-${seq}` }, body: JSON.stringify({ text: `line ${seq}\n` }) } };
        break;
      case 'heartbeat':
        req = {
          url: `${api}/heartbeat`,
          init: { method: 'POST', headers: dsn, body: JSON.stringify({ client_id: `sdk_${rid(3)}`, client_name: 'faults', client_version: '0.1.0', capture_mode: 'full', run_id: run }) },
        };
        break;
      case 'screenshot':
        // Multipart, streamed into the object store like the SDK's uploads.
        req = { url: `${api}/runs/${run}/screenshots/${seq}/pre`, init: { method: 'POST', headers: { authorization: dsn.authorization }, body: pngForm(makePng(4, 3, seq)) } };
        break;
      case 'read-screenshot':
        req = { url: `${api}/runs/${run}/screenshots/${stepPath([...this.ackedShots][0] ?? 0)}_pre.png`, init: { headers: reader } };
        break;
      case 'read-events':
        req = { url: `${api}/runs/${run}/events/run.jsonl`, init: { headers: reader } };
        break;
      case 'list-runs':
        req = { url: `${api}/runs?limit=5`, init: { headers: reader } };
        break;
      case 'read-step':
        // A step acknowledged before (the scenario PUTs one first): never a true 404.
        req = { url: `${api}/runs/${run}/steps/${stepPath([...this.ackedSteps][0] ?? 0)}.json`, init: { headers: reader } };
        break;
    }
    const at = this.now();
    const t0 = Date.now();
    let answer: Answer;
    try {
      const res = await fetch(req.url, { ...req.init, redirect: 'manual', signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS) });
      const text = await res.text();
      let code: string | undefined;
      if (res.status >= 400) code = (JSON.parse(text) as { code?: string }).code;
      else if (kind === 'read-screenshot' && res.headers.get('content-type') !== 'image/png') code = `not a PNG: ${res.headers.get('content-type')}`;
      answer = { kind, replica, status: res.status, code, retryAfter: res.headers.get('retry-after'), ms: Date.now() - t0, at, seq };
    } catch (err) {
      answer = { kind, replica, status: 0, retryAfter: null, ms: Date.now() - t0, at, seq, error: (err as Error).message };
    }
    if (answer.status >= 200 && answer.status < 300) {
      if (kind === 'events') this.ackedEvents.add(seq);
      if (kind === 'step') this.ackedSteps.add(seq);
      if (kind === 'screenshot') this.ackedShots.add(seq);
    }
    this.answers.push(answer);
    return answer;
  }
}

/** What an outage may answer: a success, or 503 with a stable code and an integer Retry-After. */
export function acceptable(a: Answer): boolean {
  if (a.status >= 200 && a.status < 300) return a.code === undefined;
  return a.status === 503 && (a.code === 'backend_unavailable' || a.code === 'step_busy') && /^[1-9][0-9]*$/.test(a.retryAfter ?? '');
}

/** A step's read path: NNNN, zero-padded to 4+ digits. */
export const stepPath = (i: number): string => String(i).padStart(4, '0');

export const describeAnswers = (answers: Answer[]): string =>
  answers.map((a) => `${a.kind}@${a.replica} ${a.status} ${a.code ?? ''} ${a.error ?? ''} ${a.ms}ms at ${a.at}`).join('\n');
