import type { Response } from 'express';
import { ApiError } from '../errors.js';

export interface TenantSlotOptions {
  /** Ingest requests of one tenant this replica works on at once; 0: no cap. */
  maxInFlight: number;
  /** Ingest requests of one tenant that may wait here for a slot; past it they are refused. */
  maxQueued: number;
}

interface Tenant {
  running: number;
  /** Waiting requests in arrival order; each is started with its slot. */
  queue: Array<() => void>;
}

/** Seconds a request refused for a full queue is told to wait: slots free in milliseconds. */
export const QUEUE_FULL_RETRY_S = 1;

/**
 * Fairness between tenants inside one replica: each tenant's ingest requests are worked on at
 * most `maxInFlight` at a time, the rest wait in that tenant's own queue (first come, first
 * served) and start as its slots free; past `maxQueued` waiting, 429 `rate_limited`. Taken before
 * the body is read and held until the response closes, so a tenant with many connections open
 * cannot have more than its slots' share of the event loop: another tenant's request waits behind
 * at most that many of its requests, never behind its whole burst. Tenants never wait on each
 * other's slots (a tenant's queue is served by its own), so there is no shared pool to schedule;
 * the replica-wide bound stays the overload guard's.
 */
export class TenantSlots {
  private readonly tenants = new Map<string, Tenant>();
  private waiting = 0;

  constructor(private readonly opts: TenantSlotOptions) {}

  get enabled(): boolean {
    return this.opts.maxInFlight > 0;
  }

  /** Requests waiting for a slot now, all tenants together. */
  get queued(): number {
    return this.waiting;
  }

  /** Requests of a tenant holding a slot now. */
  running(tenantId: string): number {
    return this.tenants.get(tenantId)?.running ?? 0;
  }

  /**
   * A slot for one ingest request, held until its response closes. A free slot is given at once
   * (the function that frees it early); otherwise the request joins its tenant's queue and the
   * promise resolves when a slot is its, or to undefined when the client left while it waited
   * (there is nobody to answer). Throws 429 `rate_limited` when the tenant's queue is full.
   */
  acquire(tenantId: string, res: Response): (() => void) | Promise<(() => void) | undefined> {
    // Gone while it was authenticated (its close has been and gone: nothing would free a slot).
    if (res.closed) return Promise.resolve(undefined);
    let t = this.tenants.get(tenantId);
    if (!t) {
      t = { running: 0, queue: [] };
      this.tenants.set(tenantId, t);
    }
    if (t.running < this.opts.maxInFlight) {
      t.running++;
      return this.held(tenantId, t, res);
    }
    if (t.queue.length >= this.opts.maxQueued) {
      throw new ApiError(
        'rate_limited',
        `Too many ingest requests of this tenant at once on this server (${this.opts.maxInFlight} in progress, ${this.opts.maxQueued} waiting); retry after Retry-After seconds`,
        { headers: { 'Retry-After': String(QUEUE_FULL_RETRY_S) } },
      );
    }
    const tenant = t;
    return new Promise((resolve) => {
      // Called with the slot already counted as this request's (see free).
      const start = () => {
        res.off('close', left);
        if (res.closed) {
          this.free(tenantId, tenant);
          resolve(undefined);
        } else resolve(this.held(tenantId, tenant, res));
      };
      const left = () => {
        const i = tenant.queue.indexOf(start);
        // Already handed a slot: start() sees the close and passes the slot on.
        if (i < 0) return;
        tenant.queue.splice(i, 1);
        this.waiting--;
        this.forget(tenantId, tenant);
        resolve(undefined);
      };
      tenant.queue.push(start);
      this.waiting++;
      res.once('close', left);
    });
  }

  /** A counted slot, freed when the response closes or by the function returned. */
  private held(tenantId: string, t: Tenant, res: Response): () => void {
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      res.off('close', release);
      this.free(tenantId, t);
    };
    res.once('close', release);
    return release;
  }

  /**
   * A slot is free: the tenant's next waiting request gets it, started from the event loop's
   * check phase (setImmediate), not from here. Started here, it would run in the same turn as the
   * request that just finished, and a tenant with a queue could chain request after request
   * through promise callbacks without the loop ever reading another tenant's socket.
   */
  private free(tenantId: string, t: Tenant): void {
    const next = t.queue.shift();
    if (!next) {
      t.running--;
      this.forget(tenantId, t);
      return;
    }
    this.waiting--;
    setImmediate(next);
  }

  private forget(tenantId: string, t: Tenant): void {
    if (t.running === 0 && t.queue.length === 0 && this.tenants.get(tenantId) === t) this.tenants.delete(tenantId);
  }
}
