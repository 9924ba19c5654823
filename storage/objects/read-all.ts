/**
 * A stream read whole into one Buffer: the chunks as they come, then one copy. (node:stream/consumers'
 * `buffer()` goes through a Blob and an ArrayBuffer, copying every byte twice; for a 5 MiB
 * screenshot read back for diagnostics that was most of the read's CPU.)
 */
export async function readAll(stream: AsyncIterable<Buffer | Uint8Array | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}
