import { useEffect, useMemo, useRef, useState } from 'react';
import { API, Conditional, getJsonl, getMaybe, nnnn, runPath, serverRoutes } from '../api';
import { useInterval, useLoad } from '../hooks';
import { iterationsOf, normaliseFinding, severityRank, stepDuration, stepFlag, stepStatus, type Finding, type Me, type Step, type Trace } from '../model';
import { navigate, runUrl, useLocation } from '../router';
import { ago, between, duration, isObj, num, str, usd } from '../util';
import { Chip, ErrorView, Link, LiveBadge } from './common';
import { Controls } from './Controls';
import { Diagnostics } from './Diagnostics';
import { RunInfo } from './RunInfo';
import { Shot } from './Shot';
import { StepPanels, type Tab } from './StepPanels';

const LIVE_POLL_MS = 2000;
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'halted', 'aborted', 'completed', 'error']);

export interface FileEntry {
  path: string;
  size?: number;
  last_modified?: string;
}

type Side = 'step' | 'diagnostics' | 'run';

export function RunPage({ me, id, step, log }: { me: Me; id: string; step?: number; log?: string }) {
  const [trace, setTrace] = useState<Trace>();
  const [error, setError] = useState<unknown>();
  const poller = useMemo(() => new Conditional<Trace>(`${runPath(id)}/trace.json`), [id]);
  const [polls, setPolls] = useState(0);
  const load = async () => {
    try {
      setPolls((n) => n + 1);
      const t = await poller.get();
      if (t) setTrace(t);
      setError(undefined);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    setTrace(undefined);
    void load();
  }, [poller]);

  const status = str(trace?.session?.status) ?? 'running';
  const live = trace !== undefined && !TERMINAL.has(status);
  useInterval(() => void load(), LIVE_POLL_MS, live);

  const steps = useMemo(() => [...(trace?.steps ?? [])].filter((s) => typeof s?.step_index === 'number').sort((a, b) => a.step_index - b.step_index), [trace]);
  const version = `${steps.length}:${status}`;

  const manifest = useLoad(() => getMaybe<Record<string, unknown>>(`${runPath(id)}/manifest.json`), [id]);
  const files = useLoad(() => getMaybe<{ files: FileEntry[] }>(`${runPath(id)}/files`).then((r) => r?.files), [id, version]);
  const findings = useLoad(
    () =>
      getMaybe<{ findings?: Array<Record<string, unknown>> }>(`${runPath(id)}/diagnostics/findings.json`).then((r) =>
        (r?.findings ?? []).filter(isObj).map(normaliseFinding).sort((a, b) => severityRank(a.severity) - severityRank(b.severity)),
      ),
    [id, version],
  );
  const reasoning = useLoad(() => getJsonl(`${runPath(id)}/events/reasoning.jsonl`).then((r) => r ?? []), [id, version]);
  const routes = useLoad(() => serverRoutes(), []);

  const loc = useLocation();
  const shotParam = new URLSearchParams(loc.search).get('shot') ?? undefined;
  const [side, setSide] = useState<Side>('step');
  // The step's sub-tab stays put while stepping through, as in a trace viewer; a log link opens Logs.
  const [stepTab, setStepTab] = useState<Tab>(log ? 'logs' : 'details');
  useEffect(() => {
    if (log) setStepTab('logs');
  }, [log]);
  useEffect(() => {
    if (new URLSearchParams(loc.search).get('panel') === 'diagnostics') setSide('diagnostics');
  }, [loc.search]);

  // No step in the URL: a live run follows its newest step, a finished one opens at its first.
  // A step's log (`logs/step-N`) keeps that step on screen.
  const logStep = log && /^step-(\d+)$/.exec(log) ? Number(/^step-(\d+)$/.exec(log)![1]) : undefined;
  const selectedIndex = step ?? logStep ?? (live ? steps[steps.length - 1]?.step_index : steps[0]?.step_index);
  const pos = steps.findIndex((s) => s.step_index === selectedIndex);
  const selected = pos >= 0 ? steps[pos] : undefined;

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) return;
      if (e.metaKey || e.ctrlKey || e.altKey) return;
      const next = e.key === 'ArrowRight' || e.key === 'j' ? 1 : e.key === 'ArrowLeft' || e.key === 'k' ? -1 : 0;
      if (!next || steps.length === 0) return;
      e.preventDefault();
      const to = steps[Math.min(steps.length - 1, Math.max(0, (pos < 0 ? 0 : pos) + next))]!;
      navigate(runUrl(id, to.step_index), { replace: true });
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [steps, pos, id]);

  if (error !== undefined && !trace)
    return (
      <div className="page">
        <ErrorView error={error} what="Run" onRetry={() => void load()} />
        <Link to="/">Back to runs</Link>
      </div>
    );
  if (!trace) return <div className="loading">Loading run…</div>;

  const s = trace.session ?? {};
  const m = manifest.data ?? {};
  const client = isObj(s.client) ? s.client : isObj(m.client) ? m.client : {};
  const costs = isObj(s.costs) ? s.costs : isObj(m.costs) ? m.costs : {};
  const tags = isObj(s.tags) ? s.tags : {};
  const started = str(s.started_at) ?? str(m.created_at);
  const nFindings = findings.data?.length ?? 0;
  const hasCommands = routes.data?.has('POST /runs/{run_id}/commands') ?? false;
  const hasServerDiff = [...(routes.data ?? [])].some((r) => r.startsWith('GET /runs/{run_id}/diagnostics/diff/'));

  return (
    <div className="run" data-testid="run-page">
      <header className="run-head">
        <div className="run-title">
          <Link to="/" className="back" title="All runs">
            ← Runs
          </Link>
          <h1 data-testid="run-id">{id}</h1>
          <Chip status={status} />
          {live && <LiveBadge />}
        </div>
        <dl className="facts">
          {str(client.name) && (
            <div>
              <dt>client</dt>
              <dd>
                {str(client.name)} {str(client.version)}
              </dd>
            </div>
          )}
          {(str(s.capture_mode) || str(m.capture_mode)) && (
            <div>
              <dt>capture</dt>
              <dd>{str(s.capture_mode) ?? str(m.capture_mode)}</dd>
            </div>
          )}
          <div>
            <dt>started</dt>
            <dd title={started}>{ago(started)}</dd>
          </div>
          <div>
            <dt>duration</dt>
            <dd>{duration(between(started, str(s.ended_at) ?? (live ? new Date().toISOString() : undefined)))}</dd>
          </div>
          <div>
            <dt>steps</dt>
            <dd data-testid="run-step-count">{steps.length}</dd>
          </div>
          <div>
            <dt>cost</dt>
            <dd>{usd(num(costs.total_usd) ?? num(s.cost_usd))}</dd>
          </div>
          {Object.entries(tags).map(([k, v]) => (
            <div key={k} className="tag">
              {k}={String(v)}
            </div>
          ))}
        </dl>
        {hasCommands && live && <Controls id={id} />}
      </header>
      <div className="run-body">
        <Timeline steps={steps} selected={selectedIndex} id={id} findings={findings.data ?? []} />
        <section className="viewer-pane">
          {selected ? (
            <StepShots key={`${selected.step_index}-${shotParam ?? ""}`} next={steps[pos + 1]} retry={live ? polls : undefined} id={id} step={selected} files={files.data} initial={shotParam} serverDiff={hasServerDiff} />
          ) : (
            <div className="empty">{steps.length === 0 ? (live ? 'Waiting for the first step…' : 'This run has no steps.') : `Step ${step} is not in this run.`}</div>
          )}
        </section>
        <aside className="side-pane">
          <div className="tabs" role="tablist">
            <button type="button" role="tab" aria-selected={side === 'step'} onClick={() => setSide('step')}>
              Step {selected ? selected.step_index : ''}
            </button>
            <button type="button" role="tab" aria-selected={side === 'diagnostics'} onClick={() => setSide('diagnostics')} data-testid="tab-diagnostics">
              Diagnostics {nFindings > 0 && <span className="count">{nFindings}</span>}
            </button>
            <button type="button" role="tab" aria-selected={side === 'run'} onClick={() => setSide('run')}>
              Run
            </button>
          </div>
          <div className="side-body">
            {side === 'step' &&
              (selected || log ? (
                <StepPanels key={`${selected?.step_index}-${log ?? ''}`} id={id} step={selected} files={files.data} reasoning={reasoning.data ?? []} log={log} hash={loc.hash} version={version} tab={stepTab} setTab={setStepTab} />
              ) : (
                <p className="muted">No step selected.</p>
              ))}
            {side === 'diagnostics' && <Diagnostics id={id} findings={findings.data} error={findings.error} />}
            {side === 'run' && <RunInfo id={id} manifest={manifest.data} session={s} files={files.data} reasoning={reasoning.data ?? []} me={me} />}
          </div>
        </aside>
      </div>
    </div>
  );
}

function Timeline({ steps, selected, id, findings }: { steps: Step[]; selected?: number; id: string; findings: Finding[] }) {
  const ref = useRef<HTMLOListElement>(null);
  const withFindings = useMemo(() => new Set(findings.map((f) => f.step_index).filter((i) => i !== undefined)), [findings]);
  useEffect(() => {
    ref.current?.querySelector('[aria-current="step"]')?.scrollIntoView({ block: 'nearest' });
  }, [selected]);
  return (
    <nav className="timeline" aria-label="Steps">
      <div className="timeline-head">
        {steps.length} step{steps.length === 1 ? '' : 's'} <span className="muted small">← → or j k</span>
      </div>
      <ol ref={ref} data-testid="timeline">
        {steps.map((s) => {
          const flag = stepFlag(s);
          const it = iterationsOf(s);
          return (
            <li key={s.step_index} className={flag ?? ''} aria-current={s.step_index === selected ? 'step' : undefined} data-step={s.step_index}>
              <Link to={runUrl(id, s.step_index)}>
                <span className={`dot st-${stepStatus(s)}`} aria-hidden="true" />
                <span className="idx">{s.step_index}</span>
                <span className="what">
                  <span className="type">{str(s.action?.type) ?? str(s.step_type) ?? 'step'}</span>
                  {s.intent && <span className="intent">{s.intent}</span>}
                  {s.failure_class && <span className="fclass">{s.failure_class}</span>}
                </span>
                <span className="meta">
                  {withFindings.has(s.step_index) && <span title="Has diagnostic findings">⚑</span>}
                  {it !== undefined && it > 1 && <span title="Iterations">×{it}</span>}
                  {duration(stepDuration(s))}
                </span>
              </Link>
            </li>
          );
        })}
      </ol>
    </nav>
  );
}

const SHOT_KINDS = ['pre', 'post', 'target', 'diff'] as const;

function StepShots({ id, step, next, files, initial, serverDiff, retry }: { id: string; step: Step; next?: Step; files?: FileEntry[]; initial?: string; serverDiff: boolean; retry?: number }) {
  // Warm the cache with the next step's first screenshot, so → shows it at once.
  useEffect(() => {
    const p = next && (str(next.observation_pre) ?? `screenshots/${nnnn(next.step_index)}_pre.png`);
    if (!p || !/^screenshots\//.test(p)) return;
    const t = window.setTimeout(() => (new Image().src = `${API}${runPath(id)}/${p}`), 300);
    return () => window.clearTimeout(t);
  }, [id, next]);
  const n = nnnn(step.step_index);
  const listed = (p: string) => files?.some((f) => f.path === p);
  const shots: Array<{ kind: string; path: string }> = [];
  for (const k of SHOT_KINDS) {
    const named = k === 'pre' ? str(step.observation_pre) : k === 'post' ? str(step.observation_post) : str(step[`observation_${k}`]);
    const path = named && /^screenshots\//.test(named) ? named : `screenshots/${n}_${k}.png`;
    // Without a file listing, pre and post are tried; target and diff only when the step names them.
    // While the run is live, a screenshot the step names may still be on its way: it is shown as awaited.
    if (files ? listed(path) || (retry !== undefined && named !== undefined) : named || k === 'pre' || k === 'post') shots.push({ kind: k, path });
  }
  const diffPath = `diagnostics/diff/${n}.png`;
  if (files ? listed(diffPath) || (serverDiff && shots.length > 1) : serverDiff) shots.push({ kind: 'server-diff', path: diffPath });
  const [kind, setKind] = useState(initial && shots.some((x) => x.kind === initial) ? initial : (shots[0]?.kind ?? 'pre'));
  const [overlay, setOverlay] = useState(true);
  const [fit, setFit] = useState(true);
  const [compare, setCompare] = useState(false);
  const pre = shots.find((x) => x.kind === 'pre');
  const post = shots.find((x) => x.kind === 'post');
  const [missing, setMissing] = useState<Set<string>>(new Set());
  const cur = shots.find((x) => x.kind === kind);
  const v = step.verdict;
  return (
    <div className="step-shots" data-testid="step-shots" data-step={step.step_index}>
      <div className="shot-bar">
        <div className="seg" role="tablist" aria-label="Screenshot">
          {shots.map((x) => (
            <button key={x.kind} type="button" role="tab" aria-selected={x.kind === kind} className={missing.has(x.kind) ? 'gone' : undefined} onClick={() => setKind(x.kind)} data-testid={`shot-${x.kind}`}>
              {x.kind === 'server-diff' ? 'diff (server)' : x.kind}
            </button>
          ))}
        </div>
        <label className="toggle">
          <input type="checkbox" checked={overlay} onChange={(e) => setOverlay(e.target.checked)} /> action
        </label>
        <label className="toggle">
          <input type="checkbox" checked={!fit} onChange={(e) => setFit(!e.target.checked)} /> 100%
        </label>
        {pre && post && (
          <label className="toggle" title="Pre and post screenshots side by side">
            <input type="checkbox" checked={compare} onChange={(e) => setCompare(e.target.checked)} data-testid="compare" /> pre | post
          </label>
        )}
        <span className="spacer" />
        <span className={`verdict v-${str(v?.status) ?? 'none'}`} title={str(v?.reason)}>
          {str(v?.status) ? `verdict ${v!.status}` : ''}
        </span>
      </div>
      <div className="step-caption">
        <strong>
          #{step.step_index} {str(step.action?.type) ?? str(step.step_type)}
        </strong>{' '}
        {step.intent}
        {step.failure_class && <span className="fclass">{step.failure_class}</span>}
        {str(v?.reason) && <span className="muted"> — {v!.reason}</span>}
      </div>
      {compare && pre && post ? (
        <div className="compare">
          {[pre, post].map((x) => (
            <figure key={x.path}>
              <figcaption>{x.kind}</figcaption>
              <Shot src={`${API}${runPath(id)}/${x.path}`} step={step} overlay={overlay} fit alt={x.kind} retry={retry} />
            </figure>
          ))}
        </div>
      ) : cur ? (
        <Shot
          key={cur.path}
          src={`${API}${runPath(id)}/${cur.path}`}
          step={step}
          overlay={overlay && cur.kind !== 'server-diff' && cur.kind !== 'diff'}
          fit={fit}
          alt={cur.kind}
          retry={retry}
          onMissing={() => setMissing((s) => new Set(s).add(cur.kind))}
        />
      ) : (
        <div className="shot-missing">No screenshots for this step.</div>
      )}
    </div>
  );
}
