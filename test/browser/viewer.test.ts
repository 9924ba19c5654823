import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../server/paths.js';
import { VIEWER_DIR } from '../../server/http/viewer.js';
import { startTestServer, type TestServer, type TestTenant } from '../helpers/server.js';
import { fixtureSteps, Ingest, loginPage, seedRun, syntheticStep } from '../helpers/seed-runs.js';

/**
 * The viewer end to end in Debian's Chromium against the real app on the embedded backends,
 * seeded through the ingest API. One browser and one page for the whole file; the tests run in
 * order and each starts where the previous one left the page.
 */
const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
// The SDK names branch runs `<parent>:branch:<8 hex>`.
const BRANCH = 'run_login_failed:branch:1a2b3c4d';
const SHOTS = process.env.AUGUR_VIEWER_SCREENSHOTS ? path.join(ROOT, 'docs', 'screenshots') : undefined;

if (!haveChromium && process.env.CI) {
  describe('viewer in Chromium', () => {
    it('needs Chromium at /usr/bin/chromium (apt-get install -y chromium)', () => {
      throw new Error(`${CHROMIUM} is missing`);
    });
  });
}

describe.skipIf(!haveChromium)('viewer in Chromium', () => {
  let server: TestServer;
  let owner: TestTenant;
  let other: TestTenant;
  let empty: TestTenant;
  let browser: Browser;
  let page: Page;
  let ing: Ingest;
  const hosts = new Set<string>();
  const cspErrors: string[] = [];

  const shot = async (name: string) => {
    if (!SHOTS) return;
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
  };
  const rowsShown = () => page.locator('[data-testid=run-row]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-run-id')).sort());
  const waitRows = (want: string[]) =>
    page.waitForFunction((w) => {
      const ids = [...document.querySelectorAll('[data-testid=run-row]')].map((r) => r.getAttribute('data-run-id')).sort();
      return JSON.stringify(ids) === JSON.stringify([...w].sort());
    }, want);

  beforeAll(async () => {
    if (!existsSync(path.join(VIEWER_DIR, 'index.html'))) throw new Error('the viewer is not built: run npm run build');
    server = await startTestServer('embedded');
    owner = await server.tenant({ admin: true });
    other = await server.tenant();
    empty = await server.tenant();
    ing = new Ingest(server.api, owner.key);
    await seedRun(ing, { runId: 'run_login_failed', status: 'failed', shots: [0, 1, 2], tags: { env: 'local', task: 'log in as alice' } });
    await seedRun(ing, {
      runId: BRANCH,
      status: 'succeeded',
      steps: fixtureSteps()
        .slice(0, 2)
        .map((s) => ({ ...s, status: 'succeeded', branch_context: { parent_run_id: 'run_login_failed', branch_id: '1a2b3c4d', fork_step_index: 1 } })),
      shots: [0],
    });
    await seedRun(ing, { runId: 'run_checkout_ok', status: 'succeeded', steps: fixtureSteps().slice(0, 2).map((s) => ({ ...s, status: 'succeeded' })), shots: [0, 1], tags: { env: 'ci' } });
    await seedRun(ing, { runId: 'run_live', status: 'running', steps: [fixtureSteps()[0]!], shots: [0] });
    const long = Array.from({ length: 500 }, (_, i) => syntheticStep(i));
    await ing.manifest('run_long', { run_id: 'run_long', client: { name: 'bench-agent', version: '2.0.0' }, step_count: 500 });
    await ing.trace('run_long', { session: { run_id: 'run_long', status: 'succeeded', started_at: '2026-12-01T18:00:00Z', ended_at: '2026-12-01T18:09:00Z' }, steps: long });
    await ing.screenshot('run_long', 0, 'pre', loginPage());
    await seedRun(new Ingest(server.api, other.key), { runId: 'run_other_tenant', status: 'succeeded', steps: [fixtureSteps()[0]!] });
    await server.ctx.runIndex.flush();

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-background-networking'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(10_000);
    page.on('request', (r) => hosts.add(new URL(r.url()).host));
    page.on('console', (m) => {
      if (/Content.Security.Policy|Refused to/i.test(m.text())) cspErrors.push(m.text());
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('serves the app at / and at deep links, keeps API 404s as JSON, caches hashed assets', async () => {
    for (const p of ['/', '/runs/run_login_failed/steps/2', '/settings']) {
      const res = await fetch(`${server.url}${p}`);
      expect(res.status, p).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/text\/html/);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("connect-src 'self'");
      const html = await res.text();
      expect(html).not.toMatch(/<script>(?!<\/script>)/);
      const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
      const a = await fetch(`${server.url}${asset}`);
      expect(a.status).toBe(200);
      expect(a.headers.get('cache-control')).toMatch(/max-age=31536000.*immutable/);
    }
    const api = await fetch(`${server.url}/api/v1/no-such-route`);
    expect(api.status).toBe(404);
    expect(await api.json()).toMatchObject({ code: 'not_found' });
    expect((await fetch(`${server.url}/assets/missing-123.js`)).status).toBe(404);
  });

  it('signs in and lists the runs', async () => {
    await page.goto(server.url);
    await page.fill('input[name=email]', owner.email);
    await page.fill('input[name=password]', 'wrong password');
    await page.click('button[type=submit]');
    await page.getByText('Wrong email or password.').waitFor();
    await page.fill('input[name=password]', owner.password);
    await page.click('button[type=submit]');
    await waitRows(['run_checkout_ok', 'run_live', 'run_login_failed', BRANCH, 'run_long']);
    const failed = page.locator('[data-run-id=run_login_failed]');
    await expect(failed.locator('.chip').textContent()).resolves.toBe('failed');
    await expect(page.locator('[data-run-id=run_long] [data-testid=step-count]').textContent()).resolves.toBe('500');
    await page.locator('[data-run-id=run_live] .live').waitFor();
    await page.locator('[data-testid=connections] li').first().waitFor();
    await shot('runs');
  });

  it('filters by status and by text', async () => {
    await page.click('[data-testid=status-failed]');
    await waitRows(['run_login_failed']);
    expect(page.url()).toContain('status=failed');
    await page.click('[data-testid=status-all]');
    await page.fill('[data-testid=runs-search]', 'long');
    await waitRows(['run_long']);
    await page.fill('[data-testid=runs-search]', '');
    await waitRows(['run_checkout_ok', 'run_live', 'run_login_failed', BRANCH, 'run_long']);
    expect(await rowsShown()).toHaveLength(5);
  });

  it('picks up a new run without a reload', async () => {
    const marker = await page.evaluate(() => ((window as unknown as { __same: number }).__same = Math.random()));
    await seedRun(ing, { runId: 'run_arrived_later', status: 'succeeded', steps: [fixtureSteps()[0]!] });
    await server.ctx.runIndex.flush();
    await page.locator('[data-run-id=run_arrived_later]').waitFor({ timeout: 15_000 });
    expect(await page.evaluate(() => (window as unknown as { __same?: number }).__same)).toBe(marker);
  });

  it('opens a run, steps through it with the keyboard and draws the click where it landed', async () => {
    await page.click('[data-run-id=run_login_failed] a.run-id');
    await page.waitForURL(/\/runs\/run_login_failed$/);
    await page.locator('[data-testid=timeline] li').nth(2).waitFor();
    expect(await page.locator('[data-testid=timeline] li.failed').getAttribute('data-step')).toBe('2');
    await page.keyboard.press('ArrowRight');
    await page.waitForURL(/\/steps\/1$/);
    await page.keyboard.press('j');
    await page.waitForURL(/\/steps\/2$/);
    await page.keyboard.press('k');
    await page.waitForURL(/\/steps\/1$/);
    await page.keyboard.press('ArrowRight');
    await page.waitForURL(/\/steps\/2$/);
    await page.locator('[aria-current=step][data-step="2"]').waitFor();

    // Step 2 clicked (200, 200) in viewport CSS px on a 1280-wide screenshot captured at viewport scale.
    const expectDot = async () => {
      const img = page.locator('[data-testid=step-shots][data-step="2"] img');
      const dot = page.locator('[data-testid=step-shots][data-step="2"] [data-testid=click-dot]');
      await dot.waitFor();
      const natural = await img.evaluate((el: HTMLImageElement) => el.naturalWidth);
      const ib = (await img.boundingBox())!;
      const db = (await dot.boundingBox())!;
      const k = ib.width / natural;
      expect(natural).toBe(1280);
      expect(db.x + db.width / 2).toBeCloseTo(ib.x + 200 * k, 0);
      expect(db.y + db.height / 2).toBeCloseTo(ib.y + 200 * k, 0);
      return k;
    };
    const fitted = await expectDot();
    expect(fitted).toBeLessThan(1);
    await shot('run');
    await page.getByLabel('100%').check();
    expect(await expectDot()).toBeCloseTo(1, 5);
    await page.getByLabel('100%').uncheck();
    await page.getByTestId('compare').check();
    await page.locator('[data-testid=step-shots][data-step="2"] .compare [data-testid=click-dot]').nth(1).waitFor();
    await page.getByTestId('compare').uncheck();

    await page.click('[data-testid=subtab-events]');
    await page.locator('[data-testid=events]').getByText('verifier').waitFor();
    await page.click('[data-testid=subtab-modelio]');
    await page.locator('[data-testid=modelio] .msg.assistant').getByText('click target 2').waitFor();
    await page.keyboard.press('k');
    await page.keyboard.press('k');
    await page.waitForURL(/\/steps\/0$/);
    const img = page.locator('[data-testid=modelio] img.msg-img');
    await img.waitFor();
    expect(await img.evaluate((el: HTMLImageElement) => [el.src.slice(0, 22), el.naturalWidth])).toEqual(['data:image/png;base64,', 64]);
    await shot('modelio');
    await page.keyboard.press('j');
    await page.keyboard.press('j');
    await page.waitForURL(/\/steps\/2$/);
    await page.click('[data-testid=subtab-details]');
    await page.locator('[data-testid=step-details] .judges').getByText('url_is_dashboard', { exact: true }).waitFor();
  });

  it('shows the run-level documents', async () => {
    await page.click('[role=tab]:has-text("Run")');
    await page.locator('[data-testid=run-info]').getByText('plan: open, type, submit').waitFor();
  });

  it("opens a diagnostic finding's evidence", async () => {
    await page.keyboard.press('ArrowLeft');
    await page.waitForURL(/\/steps\/1$/);
    await page.click('[data-testid=tab-diagnostics]');
    const finding = page.locator('[data-testid=finding]', { hasText: 'cua.no_state_change' });
    await finding.waitFor();
    await shot('diagnostics');
    await finding.locator('[data-testid=evidence-link]').first().click();
    await page.waitForURL(/\/runs\/run_login_failed\/steps\/2$/);
    await page.locator('[aria-current=step][data-step="2"]').waitFor();
  });

  it('shows step logs with line anchors', async () => {
    await page.click('[role=tab]:has-text("Step 2")');
    await page.click('[data-testid=subtab-logs]');
    const log = page.locator('[data-testid=log]');
    await log.getByText('still on /login after 3000 ms').waitFor();
    await log.locator('#L3 a.ln').click();
    await page.waitForURL(/\/runs\/run_login_failed\/logs\/step-2#L3$/);
    await page.locator('[data-testid=log] #L3.hl').waitFor();
    // A deep link to the line opens the same view.
    await page.goto(`${server.url}/runs/run_login_failed/logs/step-2#L2`);
    await page.locator('[data-testid=log] #L2.hl').getByText('waiting for navigation').waitFor();
  });

  it('watches a live run gain a step', async () => {
    await page.goto(`${server.url}/runs/run_live`);
    await page.locator('[data-testid=timeline] li').first().waitFor();
    expect(await page.locator('[data-testid=timeline] li').count()).toBe(1);
    await page.locator('.run-head .live').waitFor();
    // This server has no intervention commands yet (not in its OpenAPI document): no controls.
    const routes = (await (await fetch(`${server.api}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(await page.locator('[data-testid=controls]').count()).toBe(routes.paths['/runs/{run_id}/commands'] ? 1 : 0);
    await ing.step('run_live', { ...fixtureSteps()[1]!, step_id: 'run_live/step/0001' });
    // No step in the URL: the page follows the newest step of a live run.
    await page.locator('[data-testid=timeline] li[data-step="1"][aria-current=step]').waitFor({ timeout: 15_000 });
    await page.locator('[data-testid=step-shots][data-step="1"]').getByText('Waiting for the pre screenshot').waitFor();
    // The screenshot lands after its step: it shows up without a reload.
    await ing.screenshot('run_live', 1, 'pre', loginPage(1280, 800, 1));
    await page.locator('[data-testid=step-shots][data-step="1"] img').waitFor({ timeout: 15_000 });
    await page.waitForFunction(() => (document.querySelector('[data-testid=step-shots][data-step="1"] img') as HTMLImageElement | null)?.naturalWidth === 1280);
  });

  it('sends operator commands the SDK receives on its next poll: pause, a hint, and kill after confirmation', async () => {
    await page.goto(`${server.url}/runs/run_live`);
    const controls = page.locator('[data-testid=controls]');
    await controls.waitFor();
    await controls.getByRole('button', { name: 'Pause' }).click();
    await controls.getByRole('status').getByText('pause sent').waitFor();
    await controls.getByRole('button', { name: 'Hint…' }).click();
    await page.fill('textarea', 'The submit button is below the fold; scroll first.');
    await page.getByRole('button', { name: 'Send hint' }).click();
    await controls.getByRole('status').getByText('inject hint sent').waitFor();
    await controls.getByRole('button', { name: 'Kill' }).click();
    await page.getByRole('button', { name: 'Kill run' }).click();
    await controls.getByRole('status').getByText('kill sent').waitFor();
    const poll = await fetch(`${server.api}/runs/run_live/commands?wait=0`, { headers: { authorization: `Bearer ${owner.key}` } });
    expect(poll.status).toBe(200);
    const { commands } = (await poll.json()) as { commands: Array<{ type: string; payload: { text?: string } }> };
    expect(commands.map((c) => c.type)).toEqual(['pause', 'inject_hint', 'kill']);
    expect(commands[1]!.payload.text).toBe('The submit button is below the fold; scroll first.');
  });

  it('makes a 500-step run interactive quickly (printed, not asserted)', async () => {
    const t0 = Date.now();
    await page.goto(`${server.url}/runs/run_long`);
    await page.locator('[data-testid=timeline] li[data-step="499"]').waitFor({ state: 'attached' });
    await page.locator('[data-testid=step-shots][data-step="0"]').waitFor();
    await page.keyboard.press('ArrowRight');
    await page.locator('[data-testid=step-shots][data-step="1"]').waitFor();
    const ms = Date.now() - t0;
    console.log(`[viewer] 500-step run: interactive (timeline rendered, step 0 shown, → answered) in ${ms} ms`);
    expect(await page.locator('[data-testid=timeline] li').count()).toBe(500);
    expect(await page.locator('[data-testid=timeline] li.failed').count()).toBe(10);
  });

  it('mints a DSN (shown once, with the export line) and revokes it', async () => {
    await page.click('[data-testid=nav-settings]');
    await page.waitForURL(/\/settings$/);
    await page.fill('[data-testid=dsn-name]', 'browser-agent');
    await page.click('[data-testid=dsn-mint]');
    const dialog = page.locator('[data-testid=dsn-minted]');
    await dialog.waitFor();
    const exportLine = (await dialog.locator('[data-testid=copy-export]').textContent())!;
    expect(exportLine).toMatch(/^export AUGUR_DSN=/);
    const key = /aug_[0-9a-f]{8}_[A-Za-z0-9_-]{43}/.exec((await dialog.locator('[data-testid=copy-dsn]').textContent())!)![0];
    const hb = { client_id: 'browser-agent-1' };
    const ok = await fetch(`${server.api}/heartbeat`, { method: 'POST', headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' }, body: JSON.stringify(hb) });
    expect(ok.status).toBe(200);
    await shot('dsn-minted');
    await dialog.getByRole('button', { name: 'Done' }).click();
    const row = page.locator('[data-testid=dsn-row]', { hasText: 'browser-agent' });
    await row.locator('[data-testid=dsn-revoke]').click();
    await page.locator('[data-testid=confirm]').getByRole('button', { name: 'Revoke' }).click();
    await row.getByText(/revoked/).waitFor();
    const refused = await fetch(`${server.api}/heartbeat`, { method: 'POST', headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' }, body: JSON.stringify(hb) });
    expect(refused.status).toBe(403);
    await shot('settings');
  });

  it('lets an admin impersonate another workspace, clearly marked, and stop', async () => {
    await page.click('a.brand');
    await page.selectOption('[data-testid=tenant-switcher]', other.slug);
    const banner = page.locator('[data-testid=impersonation-banner]');
    await banner.waitFor();
    expect(await banner.textContent()).toContain(other.slug);
    await waitRows(['run_other_tenant']);
    await shot('impersonating');
    await page.selectOption('[data-testid=tenant-switcher]', empty.slug);
    await page.locator('[data-testid=no-runs]').getByText('export AUGUR_DSN=').waitFor();
    await shot('no-runs');
    await banner.getByRole('button', { name: 'Stop impersonating' }).click();
    await banner.waitFor({ state: 'detached' });
    await waitRows(['run_arrived_later', 'run_checkout_ok', 'run_live', 'run_login_failed', BRANCH, 'run_long']);
  });

  it('shows what went wrong for a missing run, then signs out', async () => {
    await page.goto(`${server.url}/runs/no_such_run`);
    await page.locator('[data-testid=error-state]').getByText('Run not found').waitFor();
    await page.click('[data-testid=sign-out]');
    await page.locator('input[name=email]').waitFor();
  });

  it('made no request to any other host and hit no CSP violation', () => {
    expect([...hosts]).toEqual([new URL(server.url).host]);
    expect(cspErrors).toEqual([]);
  });
});
