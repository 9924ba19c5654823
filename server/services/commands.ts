import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { MetadataStore, RunCommand } from '../../storage/metadata/index.js';
import type { MessageBus } from '../../storage/bus/index.js';
import type { Logger } from '../logger.js';

/** Presence pub/sub channel: "<tenant id>\n<run id>" when a run gets a command. */
const CHANNEL = 'run-commands';
/** Waiter key of pauses that only shutdown ends (no tenant id contains a newline, so no run's key is this). */
const SHUTDOWN = '\nshutdown';
/** How long a refused poll (401/403) waits before its answer, so a client retrying at once is paced. */
export const REFUSED_POLL_PAUSE_MS = 1_000;
/** Commands one answer carries at most; the cursor resumes after the last one. */
export const MAX_COMMANDS_PER_POLL = 100;
export const COMMAND_TYPES = ['pause', 'resume', 'kill', 'inject_hint', 'override_action'] as const;
export type CommandType = (typeof COMMAND_TYPES)[number];

export interface CommandHubOptions {
  /** How long a poll is held when no command is there (AUGUR_COMMANDS_HOLD_MS). */
  holdMs: number;
  /** A held poll looks again this often even without a wake-up, so a lost pub/sub message only delays. */
  recheckMs: number;
}

/**
 * The intervention channel's server side. Commands live in the metadata store (every replica
 * sees them); a held poll sleeps until this process hears, through the message bus,
 * that its run got a command, or until its periodic re-check, the end of its hold, its client
 * leaving, or shutdown.
 */
export class CommandHub {
  private readonly waiters = new Map<string, Set<() => void>>();
  private closed = false;
  /**
   * 'hold' (tenant id, run id) each time a poll starts waiting, 'gone' when a poll's client went
   * away: lets tests and metrics see held polls without guessing.
   */
  readonly events = new EventEmitter();

  constructor(
    private readonly metadata: MetadataStore,
    private readonly bus: MessageBus,
    private readonly logger: Logger,
    readonly opts: CommandHubOptions,
  ) {}

  async start(): Promise<void> {
    await this.bus.subscribe(CHANNEL, (msg) => this.wake(msg));
  }

  /** Stores the command as the run's next one and wakes the polls held for the run, on every replica. */
  async issue(c: { tenantId: string; runId: string; type: CommandType; payload: Record<string, unknown> | null; userId: string; email: string; now: number }): Promise<RunCommand> {
    const row = await this.metadata.addRunCommand({
      tenant_id: c.tenantId,
      run_id: c.runId,
      command_id: randomUUID(),
      type: c.type,
      payload: c.payload === null ? null : JSON.stringify(c.payload),
      issued_by: c.userId,
      issued_by_email: c.email,
      issued_at: c.now,
    });
    const key = waiterKey(c.tenantId, c.runId);
    this.wake(key);
    // Best effort: a lost message only delays other replicas' polls until their next re-check.
    await this.bus.publish(CHANNEL, key).catch((err: unknown) => this.logger.warn({ err }, 'command wake-up not published; held polls re-check'));
    return row;
  }

  /**
   * Commands of the run after `after`: at once when some are there, else once one arrives, or
   * empty when `holdMs` runs out, `signal` aborts (the client went away) or the server shuts down.
   */
  async poll(tenantId: string, runId: string, after: number, holdMs: number, signal: AbortSignal): Promise<RunCommand[]> {
    const key = waiterKey(tenantId, runId);
    const deadline = Date.now() + holdMs;
    for (;;) {
      // Listen before looking, so a command stored between the look and the wait still wakes us.
      let wake!: () => void;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      this.listen(key, wake);
      try {
        const rows = await this.metadata.listRunCommands(tenantId, runId, after, MAX_COMMANDS_PER_POLL);
        const left = deadline - Date.now();
        if (rows.length || this.closed || signal.aborted || left <= 0) return rows;
        this.events.emit('hold', tenantId, runId);
        await pause(Math.min(left, this.opts.recheckMs), woken, signal);
        if (signal.aborted) return []; // nobody is left to answer
      } finally {
        this.unlisten(key, wake);
        if (signal.aborted) this.events.emit('gone', tenantId, runId);
      }
    }
  }

  /** Polls waiting right now, on this process. */
  get heldPolls(): number {
    let n = 0;
    for (const [key, set] of this.waiters) if (key !== SHUTDOWN) n += set.size;
    return n;
  }

  /** Resolves after ms, or at once when the server shuts down (pacing that must not delay a shutdown). */
  idle(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.unlisten(SHUTDOWN, done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.listen(SHUTDOWN, done);
    });
  }

  /** Releases every held poll (each answers what it has) and answers new polls at once: the server is stopping. */
  shutdown(): void {
    this.closed = true;
    for (const set of this.waiters.values()) for (const fn of set) fn();
  }

  private wake(key: string): void {
    const set = this.waiters.get(key);
    if (set) for (const fn of set) fn();
  }

  private listen(key: string, fn: () => void): void {
    let set = this.waiters.get(key);
    if (!set) this.waiters.set(key, (set = new Set()));
    set.add(fn);
  }

  private unlisten(key: string, fn: () => void): void {
    const set = this.waiters.get(key);
    if (!set) return;
    set.delete(fn);
    if (!set.size) this.waiters.delete(key);
  }
}

function waiterKey(tenantId: string, runId: string): string {
  return `${tenantId}\n${runId}`;
}

/** Resolves after ms, or when woken or aborted, whichever comes first; leaves no timer or listener behind. */
function pause(ms: number, woken: Promise<void>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    void woken.then(done);
  });
}

/** The wire shape of a command (the SDK's InterventionCommand), with its cursor. */
export function commandView(c: RunCommand, withIssuer = false): Record<string, unknown> {
  return {
    command_id: c.command_id,
    type: c.type,
    issued_at: new Date(c.issued_at).toISOString(),
    operator_id: c.issued_by,
    payload: c.payload === null ? null : (JSON.parse(c.payload) as unknown),
    cursor: String(c.seq),
    ...(withIssuer ? { issued_by: { user_id: c.issued_by, email: c.issued_by_email } } : {}),
  };
}
