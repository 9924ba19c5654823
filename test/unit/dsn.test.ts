import { describe, expect, it } from 'vitest';
import { buildDsn, dsnExportLine, mintDsnKey } from '../../server/services/credentials.js';
import { parseDsnLikeTheSdk } from '../helpers/sdk-dsn.js';

describe('DSNs in the SDK\'s format', () => {
  const key = mintDsnKey().secret;

  it.each([
    ['http://localhost:8080', 'http://localhost:8080/api/v1'],
    ['http://localhost:8080/', 'http://localhost:8080/api/v1'],
    ['https://augur.example', 'https://augur.example/api/v1'],
    ['https://augur.example:8443/augur', 'https://augur.example:8443/augur/api/v1'],
    ['https://augur.example/augur//', 'https://augur.example/augur/api/v1'],
    ['http://[::1]:9000', 'http://[::1]:9000/api/v1'],
  ])('AUGUR_PUBLIC_URL %s: the SDK reads base %s, the key and the tenant', (publicUrl, base) => {
    const dsn = buildDsn(publicUrl, key, 'acme-prod');
    expect(dsn).toBe(`${base}?token=${key}&tenant=acme-prod`);
    expect(parseDsnLikeTheSdk(dsn)).toEqual({ baseUrl: base, token: key, tenant: 'acme-prod' });
    // The SDK posts to <base>/runs and <base>/heartbeat: our routes under /api/v1.
    expect(new URL(`${parseDsnLikeTheSdk(dsn).baseUrl}/heartbeat`).pathname).toMatch(/\/api\/v1\/heartbeat$/);
  });

  it('the parser refuses what the SDK refuses', () => {
    expect(() => parseDsnLikeTheSdk('localhost:8080/api/v1?token=x')).toThrow(/absolute URL/);
    expect(() => parseDsnLikeTheSdk('http://localhost:8080/api/v1?tenant=acme')).toThrow(/token/);
    expect(() => parseDsnLikeTheSdk(`http://${key}@localhost:8080`)).toThrow(/token/); // the old userinfo form
  });

  it('the export line pastes into a POSIX shell unchanged', () => {
    const dsn = buildDsn('https://augur.example', key, 'default');
    expect(dsnExportLine(dsn)).toBe(`export AUGUR_DSN='${dsn}'`);
    expect(dsn).not.toMatch(/['"\s\\$`]/);
  });
});
