import { S3ServiceException } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { classifyBackendError, describeFailure, tagBackend, tagStore } from '../../server/services/backend-failure.js';
import { CONNECTION_LOST } from '../../storage/redis/connection.js';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });
const s3 = (status: number, name = `Http${status}`) =>
  new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message: `S3 failed: HTTP ${status}` });

describe('classifyBackendError', () => {
  it.each([
    ['pg refused (tagged by the store)', tagBackend(withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'), 'metadata'), 'metadata'],
    ['pg admin shutdown', withCode('terminating connection due to administrator command', '57P01'), 'metadata'],
    ['pg statement timeout', withCode('canceling statement due to statement timeout', '57014'), 'metadata'],
    ['pg connection exception class 08', withCode('connection failure', '08006'), 'metadata'],
    ['pg terminated', new Error('Connection terminated unexpectedly'), 'metadata'],
    ['pg read timeout', new Error('Query read timeout'), 'metadata'],
    ['pg connect timeout', new Error('timeout exceeded when trying to connect'), 'metadata'],
    ['pg connectionTimeoutMillis', new Error('timeout expired'), 'metadata'],
    ['tarn acquire timeout', new Error('operation timed out for an unknown reason'), 'metadata'],
    ['knex acquire timeout', Object.assign(new Error('Knex: Timeout acquiring a connection. The pool is probably full.'), { name: 'KnexTimeoutError' }), 'metadata'],
    ['ioredis closed', new Error('Connection is closed.'), 'presence'],
    ['ioredis command timeout', new Error('Command timed out'), 'presence'],
    ['redis connection lost, not waited for', new Error(CONNECTION_LOST), 'presence'],
    ['ioredis retries spent', Object.assign(new Error('Reached the max retries per request limit (which is 20).'), { name: 'MaxRetriesPerRequestError' }), 'presence'],
    ['S3 503 after retries', s3(503, 'SlowDown'), 'objects'],
    ['S3 500', s3(500, 'InternalError'), 'objects'],
    ['S3 429', s3(429), 'objects'],
    ['S3 socket timeout (tagged)', tagBackend(withCode('S3 PUT: idle for 1000 ms', 'ETIMEDOUT'), 'objects'), 'objects'],
    ['redis reset (tagged)', tagBackend(withCode('read ECONNRESET', 'ECONNRESET'), 'presence'), 'presence'],
  ])('%s is a backend failure', (_name, err, backend) => {
    const f = classifyBackendError(err);
    expect(f).toBeDefined();
    expect(f!.backend).toBe(backend);
  });

  it.each([
    ['a TypeError (a bug)', new TypeError("Cannot read properties of undefined (reading 'x')")],
    ['a pg syntax error', withCode('syntax error at or near "selec"', '42601')],
    ['a pg unique violation', withCode('duplicate key value violates unique constraint', '23505')],
    ['an S3 403', s3(403, 'AccessDenied')],
    ['an S3 404', s3(404, 'NoSuchKey')],
    ['a bare socket error no store raised (a client hanging up)', withCode('aborted', 'ECONNRESET')],
    ['a string', 'boom'],
    ['null', null],
  ])('%s is not', (_name, err) => {
    expect(classifyBackendError(err)).toBeUndefined();
  });

  it('a tag names the backend of a bare network error, and the first tag wins', () => {
    const err = tagBackend(tagBackend(withCode('read ECONNRESET', 'ECONNRESET'), 'objects'), 'metadata');
    expect(classifyBackendError(err)).toEqual({ backend: 'objects', reason: 'ECONNRESET' });
    expect(describeFailure(classifyBackendError(err)!)).toBe('The object store (objects) is unavailable; retry after Retry-After seconds');
  });

  it('follows cause one level', () => {
    const outer = tagBackend(new Error('wrapped', { cause: withCode('refused', 'ECONNREFUSED') }), 'metadata');
    expect(classifyBackendError(outer)?.backend).toBe('metadata');
  });
});

describe('tagStore', () => {
  class Store {
    #secret = 41;
    async fails(): Promise<void> {
      throw withCode('connect ECONNREFUSED', 'ECONNREFUSED');
    }
    async ok(): Promise<number> {
      return this.#secret + 1;
    }
    throwsNow(): void {
      throw withCode('reset', 'ECONNRESET');
    }
    async *list(): AsyncIterable<number> {
      yield 1;
      throw withCode('reset', 'ECONNRESET');
    }
  }
  const store = tagStore(new Store(), 'presence');

  it('tags rejections, synchronous throws and listing errors with the backend; keeps private fields working', async () => {
    await expect(store.ok()).resolves.toBe(42);
    const rejected = await store.fails().catch((e: unknown) => e);
    expect(classifyBackendError(rejected)?.backend).toBe('presence');
    let thrown: unknown;
    try {
      store.throwsNow();
    } catch (e) {
      thrown = e;
    }
    expect(classifyBackendError(thrown)?.backend).toBe('presence');
    const seen: number[] = [];
    const listed = await (async () => {
      for await (const n of store.list()) seen.push(n);
    })().catch((e: unknown) => e);
    expect(seen).toEqual([1]);
    expect(classifyBackendError(listed)?.backend).toBe('presence');
  });
});
