import os from 'node:os';
import { parentPort } from 'node:worker_threads';
import { PixelEngine, type StepIn } from './pixel-engine.js';

/**
 * The pixel worker thread: runs one step's pixel work per message (see pixel-pool.ts).
 *
 * It runs at the lowest CPU priority (nice 19: on Linux the nice value is per thread, so only this
 * thread is lowered, not the event loop that serves ingest). Pixel work is derived data that can
 * wait; when the cores are busy with uploads, the requests and the object store come first, and
 * the work catches up when they idle.
 */
try {
  os.setPriority(os.constants.priority.PRIORITY_LOW);
} catch {
  // Not permitted or not supported here: the work still runs, at normal priority.
}
const engine = new PixelEngine();
parentPort?.on('message', (m: { id: number; task: StepIn }) => {
  try {
    const out = engine.run(m.task);
    const png = out.diffPng;
    // The diff picture is moved back, not copied, when it owns its memory.
    const own = png && png.byteOffset === 0 && png.buffer instanceof ArrayBuffer && png.byteLength === png.buffer.byteLength;
    parentPort!.postMessage({ id: m.id, out }, own ? [png.buffer as ArrayBuffer] : []);
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) });
  }
});
