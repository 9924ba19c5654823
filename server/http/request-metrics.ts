import type { Request, Response } from 'express';
import { UNMATCHED_ROUTE, VIEWER_ROUTE, type Metrics, type RouteSeries } from '../services/metrics.js';

/**
 * Records each request in the metrics once its response closes: count, latency and sizes under its
 * route template (set by the route pipeline, so the route shortcut and the router label alike),
 * ingest items for ingest routes, and 429s. Everything is resolved from the route's cached series;
 * the only per-request work is the listener and a few numbers.
 */
export function requestRecorder(metrics: Metrics, prefix: string): (req: Request, res: Response) => void {
  const lowerPrefix = prefix.toLowerCase();

  /** Requests no API route served: a doc page (its router's template), an unknown API path, or the viewer. */
  const fallback = (req: Request): RouteSeries => {
    const template = (req.route as { path?: unknown } | undefined)?.path;
    if (typeof template === 'string') return metrics.other(req.method, `${req.baseUrl}${template}`);
    const url = req.originalUrl;
    const after = url[prefix.length];
    const api = (after === undefined || after === '/' || after === '?') && url.slice(0, prefix.length).toLowerCase() === lowerPrefix;
    return metrics.other(req.method, api ? UNMATCHED_ROUTE : VIEWER_ROUTE);
  };

  function onClose(this: Response): void {
    const req = this.req;
    const series = req.metricsRoute ?? fallback(req);
    // A response closed before it finished: the client went away (nginx's 499).
    const status = this.writableFinished ? this.statusCode : 499;
    const s = series.status(status);
    const declared = req.headers['content-length'];
    const inBytes = declared !== undefined ? Number(declared) || 0 : (req.rawBody?.length ?? 0);
    s.requests.inc();
    s.duration.observe(Number(process.hrtime.bigint() - req.startedAt) / 1e9);
    s.requestBytes.observe(inBytes);
    s.responseBytes.observe(req.socket ? req.socket.bytesWritten - req.bytesOutAtStart : 0);
    if (status < 300 && series.ingestItems) {
      const count = series.ingest!.count;
      series.ingestItems.inc(count ? count(req.body) : 1);
      series.ingestBytes!.inc(inBytes);
    } else if (status === 429) series.rateLimited.inc();
  }

  return (req, res) => {
    req.bytesOutAtStart = req.socket?.bytesWritten ?? 0;
    res.on('close', onClose);
  };
}
