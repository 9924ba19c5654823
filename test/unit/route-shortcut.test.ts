import type { Request, RequestHandler, Response } from 'express';
import { describe, expect, it } from 'vitest';
import { routeShortcut } from '../../server/http/route-shortcut.js';

/** Which route (if any) the shortcut dispatches a request to, with its params or the error it passes on. */
async function dispatch(method: string, url: string): Promise<{ route?: string; params?: Record<string, string>; next?: unknown }> {
  return new Promise((resolve) => {
    const handler = (name: string): RequestHandler => (req) => resolve({ route: name, params: { ...(req.params as Record<string, string>) } });
    const mw = routeShortcut('/api/v1', [
      { method: 'put', path: '/runs/:run_id/steps/:step_index', handler: handler('step') },
      { method: 'post', path: '/runs', handler: handler('manifest') },
    ]);
    try {
      mw({ method, url, params: {} } as unknown as Request, {} as Response, (err?: unknown) => resolve({ next: err ?? 'next' }));
    } catch (err) {
      resolve({ next: err });
    }
  });
}

describe('route shortcut', () => {
  it('matches as the router does: any case, an optional trailing slash, a query, decoded params', async () => {
    expect(await dispatch('PUT', '/api/v1/runs/r1/steps/3')).toEqual({ route: 'step', params: { run_id: 'r1', step_index: '3' } });
    expect(await dispatch('PUT', '/API/V1/Runs/r1/STEPS/3')).toEqual({ route: 'step', params: { run_id: 'r1', step_index: '3' } });
    expect(await dispatch('PUT', '/api/v1/runs/r1/steps/3/?a=1')).toEqual({ route: 'step', params: { run_id: 'r1', step_index: '3' } });
    expect(await dispatch('PUT', '/api/v1/runs/a%2Fb/steps/3')).toEqual({ route: 'step', params: { run_id: 'a/b', step_index: '3' } });
    expect(await dispatch('POST', '/api/v1/runs')).toEqual({ route: 'manifest', params: {} });
  });

  it('leaves everything else to the router', async () => {
    for (const [method, url] of [
      ['GET', '/api/v1/runs/r1/steps/3'],
      ['OPTIONS', '/api/v1/runs/r1/steps/3'],
      ['PUT', '/api/v1/runs/r1/steps'],
      ['PUT', '/api/v1x/runs/r1/steps/3'],
      ['PUT', '/api/v1'],
      ['PUT', '/other/runs/r1/steps/3'],
      ['PUT', '/api/v1/runs/r1/steps/3/x'],
      ['PUT', '/api/v1/runs/r1/steps/3#x'],
    ] as const) {
      expect(await dispatch(method, url), `${method} ${url}`).toEqual({ next: 'next' });
    }
  });

  it('passes a malformed escape on as a 400 URIError, as the router does', async () => {
    const { next } = await dispatch('PUT', '/api/v1/runs/%E0%A4%A/steps/3');
    expect(next).toBeInstanceOf(URIError);
    expect(next).toMatchObject({ status: 400 });
  });
});
