import { useEffect, useMemo, useRef, useState } from 'react';
import { Conditional, getJson } from '../api';
import { useInterval } from '../hooks';
import { isLive, runCost, STATUSES, type Me, type RunRow } from '../model';
import { groupRuns, tagMatch } from '../runs-model';
import { navigate, runUrl } from '../router';
import { ago, between, duration, isObj, usd } from '../util';
import { Chip, CopyLine, Empty, ErrorView, Link, LiveBadge } from './common';

interface Page {
  runs: RunRow[];
  next_cursor: string | null;
}
interface Connection {
  client_id: string;
  client_name?: string | null;
  client_version?: string | null;
  capture_mode?: string | null;
  run_id?: string | null;
  last_event?: unknown;
  last_seen: string;
}

const POLL_MS = 4000;
const PAGE = 50;

function query(f: Filters, cursor?: string): string {
  const p = new URLSearchParams({ limit: String(PAGE) });
  if (f.status) p.set('status', f.status);
  if (f.q) p.set('q', f.q);
  if (cursor) p.set('cursor', cursor);
  return `/runs?${p}`;
}

interface Filters {
  status: string;
  q: string;
  tag: string;
}

function filtersFromUrl(): Filters {
  const p = new URLSearchParams(location.search);
  return { status: p.get('status') ?? '', q: p.get('q') ?? '', tag: p.get('tag') ?? '' };
}

export function RunsPage({ me }: { me: Me }) {
  const [filters, setFilters] = useState<Filters>(filtersFromUrl);
  const [qInput, setQInput] = useState(filters.q);
  const [first, setFirst] = useState<Page>();
  const [more, setMore] = useState<RunRow[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>();
  const [loadingMore, setLoadingMore] = useState(false);
  const [now, setNow] = useState(Date.now());
  const poller = useRef<Conditional<Page>>(undefined);

  // Filters live in the URL so a filtered list can be shared and survives reloads.
  useEffect(() => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(filters)) if (v) p.set(k, v);
    const s = p.toString();
    history.replaceState(null, '', s ? `/?${s}` : '/');
  }, [filters]);

  useEffect(() => {
    const t = window.setTimeout(() => setFilters((f) => (f.q === qInput ? f : { ...f, q: qInput })), 250);
    return () => window.clearTimeout(t);
  }, [qInput]);

  const loadFirst = async (fresh: boolean) => {
    if (fresh || !poller.current) poller.current = new Conditional<Page>(query(filters));
    try {
      const page = await poller.current.get();
      setNow(Date.now());
      if (!page) return;
      setError(undefined);
      setFirst(page);
      if (fresh) {
        setMore([]);
        setCursor(page.next_cursor);
      }
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => {
    setFirst(undefined);
    void loadFirst(true);
  }, [filters.status, filters.q]);
  useInterval(() => void loadFirst(false), POLL_MS, true);

  const rows = useMemo(() => {
    const seen = new Set<string>();
    const all: RunRow[] = [];
    // A run that moved between pages while paging shows once.
    for (const r of [...(first?.runs ?? []), ...more]) {
      if (seen.has(r.run_id)) continue;
      seen.add(r.run_id);
      all.push(r);
    }
    return groupRuns(all.filter((r) => tagMatch(r, filters.tag)));
  }, [first, more, filters.tag]);

  const loadMore = async () => {
    if (!cursor) return;
    setLoadingMore(true);
    try {
      const page = await getJson<Page>(query(filters, cursor));
      setMore((m) => [...m, ...page.runs]);
      setCursor(page.next_cursor);
    } catch (e) {
      setError(e);
    } finally {
      setLoadingMore(false);
    }
  };

  const filtered = Boolean(filters.status || filters.q || filters.tag);
  return (
    <div className="runs-layout">
      <section className="runs">
        <div className="toolbar" role="search">
          <div className="status-filter" role="group" aria-label="Status">
            {['', ...STATUSES].map((s) => (
              <button key={s || 'all'} type="button" className={filters.status === s ? 'on' : undefined} aria-pressed={filters.status === s} data-testid={`status-${s || 'all'}`} onClick={() => setFilters((f) => ({ ...f, status: s }))}>
                {s || 'all'}
              </button>
            ))}
          </div>
          <input type="search" placeholder="Search run id, agent, task…" aria-label="Search runs" value={qInput} onChange={(e) => setQInput(e.target.value)} data-testid="runs-search" />
          <input type="search" placeholder="tag: key=value" aria-label="Filter by tag" value={filters.tag} onChange={(e) => setFilters((f) => ({ ...f, tag: e.target.value }))} data-testid="runs-tag" className="tag-input" />
        </div>
        {error !== undefined && !first && <ErrorView error={error} what="Runs" onRetry={() => void loadFirst(true)} />}
        {error !== undefined && first && <div className="stale">Could not refresh: {(error as Error).message}. Showing the last list.</div>}
        {!first && error === undefined && <div className="loading">Loading runs…</div>}
        {first && rows.length === 0 && (filtered ? <Empty>No runs match these filters.</Empty> : <NoRuns me={me} />)}
        {first && rows.length > 0 && (
          <table className="runs-table" data-testid="runs-table">
            <thead>
              <tr>
                <th>Status</th>
                <th>Run</th>
                <th>Client</th>
                <th>Started</th>
                <th>Duration</th>
                <th title="Steps (iterations)">Steps</th>
                <th>Cost</th>
                <th>Tags</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <RunRows key={r.run_id} r={r} now={now} />
              ))}
            </tbody>
          </table>
        )}
        {cursor && (
          <button type="button" className="more" onClick={loadMore} disabled={loadingMore} data-testid="load-more">
            {loadingMore ? 'Loading…' : 'Load more runs'}
          </button>
        )}
      </section>
      <Connections />
    </div>
  );
}

function RunRows({ r, now }: { r: RunRow; now: number }) {
  const [open, setOpen] = useState(true);
  const kids = r.children ?? [];
  return (
    <>
      <Row r={r} now={now} kids={kids.length} open={open} toggle={() => setOpen((o) => !o)} />
      {open && kids.map((c) => <Row key={c.run_id} r={c} now={now} child />)}
    </>
  );
}

function Row({ r, now, child, kids = 0, open, toggle }: { r: RunRow; now: number; child?: boolean; kids?: number; open?: boolean; toggle?: () => void }) {
  const started = r.started_at ?? r.created_at;
  const ended = r.ended_at ?? (r.status && r.status !== 'running' ? r.updated_at : undefined);
  const live = isLive(r, now);
  const synthetic = r.created_at === undefined && kids > 0;
  const tags = isObj(r.tags) ? Object.entries(r.tags) : [];
  return (
    <tr
      className={`${child ? 'child' : ''} ${r.status === 'failed' ? 'row-failed' : ''} ${synthetic ? '' : 'clickable'}`}
      data-testid="run-row"
      data-run-id={r.run_id}
      onClick={(e) => {
        // The whole row opens the run; links, buttons and text selection keep their own meaning.
        if (synthetic || (e.target as HTMLElement).closest('a, button') || String(window.getSelection() ?? '')) return;
        navigate(runUrl(r.run_id));
      }}
    >
      <td>
        {!synthetic && <Chip status={r.status} />} {live && <LiveBadge />}
      </td>
      <td className="run-cell">
        {kids > 0 && (
          <button type="button" className="twisty" aria-expanded={open} onClick={toggle} title={`${kids} child run${kids > 1 ? 's' : ''}`}>
            {open ? '▾' : '▸'} {kids}
          </button>
        )}
        {child && <span className="branch" aria-hidden="true">↳ </span>}
        {synthetic ? (
          <span className="muted" title="Parent run not in this list">
            {r.group_id ? `group ${r.group_id}` : <Link to={runUrl(r.run_id)}>{r.run_id}</Link>}
          </span>
        ) : (
          <Link to={runUrl(r.run_id)} className="run-id">
            {r.run_id}
          </Link>
        )}
        {(r.task || r.agent) && <div className="sub">{[r.agent, r.task].filter(Boolean).join(' · ')}</div>}
      </td>
      <td>{r.client_name ? `${r.client_name}${r.client_version ? ` ${r.client_version}` : ''}` : '—'}</td>
      <td title={started ?? undefined}>{ago(started, now)}</td>
      <td>{live ? duration(between(started, new Date(now).toISOString())) : duration(between(started, ended))}</td>
      <td data-testid="step-count">
        {/* N (M): M step records counting iterations, shown only when some step was iterated. */}
        {synthetic ? '' : `${r.step_count ?? 0}${typeof r.iteration_count === 'number' && r.iteration_count > (r.step_count ?? 0) ? ` (${r.iteration_count})` : ''}`}
      </td>
      <td>{synthetic ? '' : usd(runCost(r))}</td>
      <td className="tags">
        {tags.slice(0, 4).map(([k, v]) => (
          <span key={k} className="tag">
            {k}={String(v)}
          </span>
        ))}
        {tags.length > 4 && <span className="muted">+{tags.length - 4}</span>}
      </td>
    </tr>
  );
}

function NoRuns({ me }: { me: Me }) {
  const origin = location.origin;
  return (
    <div className="empty onboarding" data-testid="no-runs">
      <h2>No runs yet in {me.tenant.slug}</h2>
      <p>Runs appear here as soon as an agent with the Augur SDK starts one. To connect an agent:</p>
      <ol>
        <li>
          Mint a DSN for it in <Link to="/settings">Settings</Link> (the key is shown once).
        </li>
        <li>
          Install the SDK: <CopyLine text="pip install augur-sdk" />
        </li>
        <li>
          Set the DSN in the agent's environment and run it:
          <CopyLine text={`export AUGUR_DSN='${origin}/api/v1?token=<key>&tenant=${me.tenant.slug}'`} />
        </li>
      </ol>
    </div>
  );
}

function Connections() {
  const [conns, setConns] = useState<Connection[]>();
  const [error, setError] = useState<string>();
  const load = () =>
    getJson<{ connections: Connection[] }>('/connections').then(
      (r) => {
        setConns(r.connections);
        setError(undefined);
      },
      (e: Error) => setError(e.message),
    );
  useEffect(() => void load(), []);
  useInterval(() => void load(), 10_000, true);
  return (
    <aside className="connections" aria-label="Connections" data-testid="connections">
      <h3>Connected clients</h3>
      <p className="muted small">SDK clients heard from in the last 60 s.</p>
      {error && <p className="form-error">{error}</p>}
      {conns && conns.length === 0 && <p className="muted">None right now.</p>}
      <ul>
        {conns?.map((c) => (
          <li key={c.client_id}>
            <div>
              <LiveBadge /> <strong>{c.client_name ?? c.client_id}</strong> {c.client_version && <span className="muted">{c.client_version}</span>}
            </div>
            <div className="small muted">
              {c.capture_mode && <>capture {c.capture_mode} · </>}
              seen {ago(c.last_seen)}
              {typeof c.last_event === 'string' && <> · {c.last_event}</>}
            </div>
            {c.run_id && (
              <div className="small">
                <Link to={runUrl(c.run_id)}>{c.run_id}</Link>
              </div>
            )}
          </li>
        ))}
      </ul>
    </aside>
  );
}
