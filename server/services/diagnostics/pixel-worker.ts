import { parentPort } from 'node:worker_threads';
import { PixelEngine, type StepIn } from './pixel-engine.js';

/** The pixel worker thread: runs one step's pixel work per message (see pixel-pool.ts). */
const engine = new PixelEngine();
parentPort?.on('message', (m: { id: number; task: StepIn }) => {
  try {
    parentPort!.postMessage({ id: m.id, out: engine.run(m.task) });
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) });
  }
});
