import type { Response } from 'express';

/**
 * Answers JSON without res.json/res.send: on every call those look up three app settings, resolve
 * a MIME type, parse and re-format the Content-Type to add a charset and copy the text into a
 * Buffer, which shows on the ingest hot path, where every answer is a small object. The bytes on
 * the wire are res.json's under this app's settings (no ETag, no JSON escaping).
 */
export function sendJson(res: Response, body: unknown, status = 200): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}
