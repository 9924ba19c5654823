import { describe, expect, it } from 'vitest';
import type { Response } from 'express';
import { EventEmitter } from 'node:events';
import { ApiError } from '../../server/errors.js';
import { TenantSlots } from '../../server/services/tenant-slots.js';

/** A response that closes when told (as a ServerResponse does once answered or abandoned). */
class FakeRes extends EventEmitter {
  closed = false;
  close(): void {
    this.closed = true;
    this.emit('close');
  }
}
const res = () => new FakeRes();
const asRes = (r: FakeRes) => r as unknown as Response;

describe('tenant slots', () => {
  it('works on a tenant\'s requests at most maxInFlight at a time; the rest start in arrival order as slots free', async () => {
    const slots = new TenantSlots({ maxInFlight: 2, maxQueued: 10 });
    const running = [res(), res()];
    for (const r of running) expect(typeof slots.acquire('t', asRes(r))).toBe('function');
    const started: number[] = [];
    const waiting = [res(), res(), res()].map((r, i) => ({ r, slot: (slots.acquire('t', asRes(r)) as Promise<unknown>).then((s) => (started.push(i), s)) }));
    expect(slots.running('t')).toBe(2);
    expect(slots.queued).toBe(3);

    running[0]!.close();
    expect(typeof (await waiting[0]!.slot)).toBe('function');
    expect(started).toEqual([0]);
    expect(slots.queued).toBe(2);
    // A slot freed early by its holder (the function returned) counts the same as a close.
    const release = (await waiting[0]!.slot) as () => void;
    release();
    await waiting[1]!.slot;
    expect(started).toEqual([0, 1]);
    expect(slots.running('t')).toBe(2);
    running[1]!.close();
    await waiting[2]!.slot;
    expect(started).toEqual([0, 1, 2]);
    for (const w of waiting) w.r.close();
    expect(slots.running('t')).toBe(0);
    expect(slots.queued).toBe(0);
  });

  it('never makes one tenant wait on another tenant\'s slots', () => {
    const slots = new TenantSlots({ maxInFlight: 1, maxQueued: 5 });
    slots.acquire('flood', asRes(res()));
    for (let i = 0; i < 5; i++) slots.acquire('flood', asRes(res()));
    expect(typeof slots.acquire('victim', asRes(res()))).toBe('function');
    expect(slots.running('victim')).toBe(1);
  });

  it('refuses past maxQueued waiting with 429 rate_limited and Retry-After 1', () => {
    const slots = new TenantSlots({ maxInFlight: 1, maxQueued: 1 });
    slots.acquire('t', asRes(res()));
    slots.acquire('t', asRes(res()));
    let refused: unknown;
    try {
      slots.acquire('t', asRes(res()));
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ code: 'rate_limited', status: 429, extra: { headers: { 'Retry-After': '1' } } });
    expect(slots.queued).toBe(1);
  });

  it('drops a request whose client left while it waited, and passes on a slot handed to a client that just left', async () => {
    const slots = new TenantSlots({ maxInFlight: 1, maxQueued: 5 });
    const holder = res();
    slots.acquire('t', asRes(holder));
    const gone = res();
    const goneSlot = slots.acquire('t', asRes(gone)) as Promise<unknown>;
    const next = res();
    const nextSlot = slots.acquire('t', asRes(next)) as Promise<unknown>;
    gone.close();
    expect(await goneSlot).toBeUndefined();
    expect(slots.queued).toBe(1);
    // The holder finishes and the slot is handed to `next`, which leaves before it starts: the
    // slot is not lost with it.
    const last = res();
    const lastSlot = slots.acquire('t', asRes(last)) as Promise<unknown>;
    holder.close();
    next.close();
    expect(await nextSlot).toBeUndefined();
    expect(typeof (await lastSlot)).toBe('function');
    expect(slots.running('t')).toBe(1);
    last.close();
    expect(slots.running('t')).toBe(0);
  });

  it('gives no slot to a client already gone, and none at all when the cap is 0 (off)', async () => {
    const slots = new TenantSlots({ maxInFlight: 1, maxQueued: 1 });
    const gone = res();
    gone.closed = true;
    expect(await slots.acquire('t', asRes(gone))).toBeUndefined();
    expect(slots.running('t')).toBe(0);
    expect(new TenantSlots({ maxInFlight: 0, maxQueued: 64 }).enabled).toBe(false);
  });
});
