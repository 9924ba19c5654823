import { Transform, type TransformCallback } from 'node:stream';
import { TooLargeError } from './types.js';

/** Passes bytes through and fails the stream with TooLargeError once more than `max` bytes went by. */
export class ByteLimit extends Transform {
  bytes = 0;
  constructor(private readonly max: number | undefined) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.max !== undefined && this.bytes > this.max) cb(new TooLargeError(this.max));
    else cb(null, chunk);
  }
}
