import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Response } from 'express';

/**
 * Streams a stored body into the response. A HEAD gets the headers alone (the store's stream is
 * closed unread). A client that goes away before the last byte (curl -I on a GET route, a
 * closed tab) is not a server error: the stream is dropped and nothing is logged above debug.
 * A failure of the store mid-body still rejects, to be logged by the error handler.
 */
export async function streamBody(res: Response, body: Readable): Promise<void> {
  if (res.req.method === 'HEAD') {
    body.destroy();
    res.end();
    return;
  }
  try {
    await pipeline(body, res);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE' || res.req.destroyed) return;
    throw err;
  }
}
