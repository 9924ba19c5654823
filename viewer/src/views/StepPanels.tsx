import { useEffect, useMemo, useState } from 'react';
import { getJson, getJsonl, getMaybe, getText, nnnn, runPath } from '../api';
import { useLoad } from '../hooks';
import type { Step } from '../model';
import { logUrl } from '../router';
import { isObj, str } from '../util';
import { Chip, Empty, JsonBlock, Link } from './common';
import { ModelIo } from './ModelIo';
import type { FileEntry } from './Run';

export type Tab = 'details' | 'events' | 'reasoning' | 'modelio' | 'logs' | 'effects';

export function StepPanels(props: { id: string; step?: Step; files?: FileEntry[]; reasoning: Array<Record<string, unknown>>; log?: string; hash: string; version: string; tab: Tab; setTab: (t: Tab) => void }) {
  const { id, step, tab, setTab } = props;
  const i = step?.step_index;
  const n = i === undefined ? '' : nnnn(i);
  const modelio = props.files?.filter((f) => f.path.startsWith(`modelio/${n}`)).map((f) => f.path.slice('modelio/'.length));
  const effects = props.files?.filter((f) => f.path.startsWith(`side_effects/${n}-`)).map((f) => f.path);
  const reasoning = props.reasoning.filter((r) => r.step_index === i);
  const tabs: Array<[Tab, string]> = [
    ['details', 'Details'],
    ['events', 'Events'],
    ['reasoning', `Reasoning${reasoning.length ? ` (${reasoning.length})` : ''}`],
    ['modelio', 'Model I/O'],
    ['logs', 'Logs'],
    ['effects', 'Side effects'],
  ];
  return (
    <div className="step-panels">
      <div className="subtabs" role="tablist">
        {tabs.map(([t, label]) => (
          <button key={t} type="button" role="tab" aria-selected={tab === t} onClick={() => setTab(t)} data-testid={`subtab-${t}`}>
            {label}
          </button>
        ))}
      </div>
      {tab === 'details' && step && <Details step={step} id={id} iterations={props.files?.filter((f) => f.path.startsWith(`steps/${n}/`)).map((f) => f.path)} />}
      {tab === 'events' && i !== undefined && <Events id={id} index={i} version={props.version} />}
      {tab === 'reasoning' && (reasoning.length ? <Reasoning items={reasoning} /> : <Empty>No reasoning recorded for this step.</Empty>)}
      {tab === 'modelio' && i !== undefined && <ModelIoList id={id} index={i} names={modelio} />}
      {tab === 'logs' && <Logs id={id} index={i} files={props.files} log={props.log} hash={props.hash} version={props.version} />}
      {tab === 'effects' && i !== undefined && <SideEffects id={id} index={i} paths={effects} />}
    </div>
  );
}

function Row({ k, children }: { k: string; children: React.ReactNode }) {
  return (
    <div className="kv">
      <dt>{k}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function Details({ step, id, iterations }: { step: Step; id: string; iterations?: string[] }) {
  const g = step.grounding;
  const bc = isObj(step.branch_context) ? step.branch_context : undefined;
  return (
    <div className="details" data-testid="step-details">
      <dl>
        <Row k="status">
          <Chip status={step.status ?? (isObj(step.result) ? str(step.result.status) : undefined)} />
        </Row>
        {step.failure_class && (
          <Row k="failure class">
            <span className="fclass">{step.failure_class}</span>
          </Row>
        )}
        {step.intent && <Row k="intent">{step.intent}</Row>}
        <Row k="action">
          <code>{str(step.action?.type) ?? '—'}</code> {step.action?.coordinate_space && <span className="muted">in {step.action.coordinate_space}</span>}
          {step.action?.params && <JsonBlock value={step.action.params} />}
        </Row>
        {g && (
          <Row k="grounding">
            {g.target_label && <strong>{g.target_label}</strong>} {g.coordinates !== undefined && <code>{JSON.stringify(g.coordinates)}</code>}
            {str(g.provider) && <span className="muted"> · {String(g.provider)}</span>}
            {typeof g.confidence === 'number' && <span className="muted"> · confidence {g.confidence}</span>}
          </Row>
        )}
        {step.verdict && (
          <Row k="verdict">
            <span className={`verdict v-${step.verdict.status}`}>{step.verdict.status}</span> {step.verdict.reason}
            {str(step.verdict_source) && <span className="muted"> · {String(step.verdict_source)}</span>}
          </Row>
        )}
      </dl>
      {Array.isArray(step.judge_decisions) && step.judge_decisions.length > 0 && (
        <>
          <h4>Judge decisions</h4>
          <ul className="judges">
            {step.judge_decisions.map((j, k) => {
              const v = isObj(j.verdict) ? j.verdict : {};
              return (
                <li key={k}>
                  <span className={`verdict v-${str(v.status)}`}>{str(v.status)}</span> <strong>{str(j.judge_id)}</strong> <span className="muted">{str(j.judge_type)}</span>
                  {typeof j.confidence === 'number' && <span className="muted"> · {j.confidence}</span>}
                  <div>{str(v.reason)}</div>
                </li>
              );
            })}
          </ul>
        </>
      )}
      {bc && (
        <>
          <h4>Branch</h4>
          <JsonBlock value={bc} />
        </>
      )}
      {isObj(step.recovery_decision) && (
        <>
          <h4>Recovery</h4>
          <JsonBlock value={step.recovery_decision} />
        </>
      )}
      {iterations && iterations.length > 0 && (
        <>
          <h4>Iterations ({iterations.length})</h4>
          <ul className="iterations">
            {iterations.map((p) => (
              <Iteration key={p} id={id} path={p} />
            ))}
          </ul>
        </>
      )}
      <h4>Step document</h4>
      <JsonBlock value={step} limit={0} />
    </div>
  );
}

/** An earlier attempt at the step (steps/NNNN/<8 hex>.json), loaded when opened. */
function Iteration({ id, path }: { id: string; path: string }) {
  const [doc, setDoc] = useState<unknown>();
  return (
    <li>
      <details onToggle={(e) => (e.currentTarget.open && doc === undefined ? void getMaybe(`${runPath(id)}/${path}`).then((d) => setDoc(d ?? 'not readable')) : undefined)}>
        <summary>{path.split('/').pop()}</summary>
        {doc !== undefined && <JsonBlock value={doc} />}
      </details>
    </li>
  );
}

function Events({ id, index, version }: { id: string; index: number; version: string }) {
  const ev = useLoad(() => getJsonl(`${runPath(id)}/events/${nnnn(index)}.jsonl`), [id, index, version]);
  const groups = useMemo(() => {
    const out = new Map<string, Array<Record<string, unknown>>>();
    for (const e of ev.data ?? []) {
      const layer = str(e.layer) ?? 'other';
      out.set(layer, [...(out.get(layer) ?? []), e]);
    }
    return out;
  }, [ev.data]);
  if (ev.loading && !ev.data) return <p className="muted">Loading events…</p>;
  if (!ev.data?.length) return <Empty>No decision events for this step.</Empty>;
  return (
    <div className="events" data-testid="events">
      {[...groups].map(([layer, items]) => (
        <section key={layer}>
          <h4>
            {layer} <span className="muted">({items.length})</span>
          </h4>
          <ul>
            {items.map((e, k) => (
              <li key={k}>
                <span className="kind">{str(e.kind) ?? str(e.type)}</span> {str(e.summary) ?? str(e.message)}
                <span className="muted small"> {str(e.ts)?.slice(11, 23)}</span>
                {e.detail !== undefined && <JsonBlock value={e.detail} limit={300} />}
              </li>
            ))}
          </ul>
        </section>
      ))}
    </div>
  );
}

export function Reasoning({ items }: { items: Array<Record<string, unknown>> }) {
  return (
    <ul className="reasoning">
      {items.map((r, k) => (
        <li key={k}>
          <div className="muted small">
            {[str(r.format), str(r.model), typeof r.tokens === 'number' ? `${r.tokens} tokens` : undefined, str(r.ts)].filter(Boolean).join(' · ')}
          </div>
          <p>{str(r.text) ?? JSON.stringify(r)}</p>
        </li>
      ))}
    </ul>
  );
}

function ModelIoList({ id, index, names }: { id: string; index: number; names?: string[] }) {
  // Without a file listing, the SDK's usual record name for the step is tried.
  const list = names ?? [`${nnnn(index)}-grounding-0.json`];
  const recs = useLoad(async () => Promise.all(list.map(async (name) => ({ name, rec: await getMaybe<Record<string, unknown>>(`${runPath(id)}/modelio/${name}`) }))), [id, index, list.join()]);
  const found = recs.data?.filter((r) => r.rec);
  if (recs.loading && !recs.data) return <p className="muted">Loading model I/O…</p>;
  if (!found?.length) return <Empty>No model calls recorded for this step{names ? '' : ' (or the server cannot list them yet)'}.</Empty>;
  return (
    <div data-testid="modelio">
      {found.map((r) => (
        <ModelIo key={r.name} name={r.name} rec={r.rec!} />
      ))}
    </div>
  );
}

function Logs({ id, index, files, log, hash, version }: { id: string; index?: number; files?: FileEntry[]; log?: string; hash: string; version: string }) {
  const names = useMemo(() => {
    const listed = files?.filter((f) => /^logs\/.+\.log$/.test(f.path)).map((f) => f.path.slice(5, -4));
    const all = listed ?? [...(index !== undefined ? [`step-${index}`] : []), 'run'];
    if (log && !all.includes(log)) all.unshift(log);
    return all;
  }, [files, index, log]);
  const [name, setName] = useState(log ?? (index !== undefined && names.includes(`step-${index}`) ? `step-${index}` : names[0]));
  const text = useLoad(() => (name ? getText(`${runPath(id)}/logs/${encodeURIComponent(name)}.log`) : Promise.resolve(undefined)), [id, name, version]);
  const line = /^#L(\d+)/.exec(hash)?.[1];
  useEffect(() => {
    if (line && text.data) document.getElementById(`L${line}`)?.scrollIntoView({ block: 'center' });
  }, [line, text.data]);
  return (
    <div className="logs">
      <select value={name} onChange={(e) => setName(e.target.value)} aria-label="Log">
        {names.map((n) => (
          <option key={n} value={n}>
            {n}.log
          </option>
        ))}
      </select>
      {text.data === undefined && !text.loading && <Empty>No {name}.log.</Empty>}
      {text.data !== undefined && (
        <pre className="log" data-testid="log">
          {text.data.replace(/\n$/, '').split('\n').map((l, k) => (
            <div key={k} id={`L${k + 1}`} className={line === String(k + 1) ? 'hl' : undefined}>
              <Link to={logUrl(id, name!, k + 1)} className="ln">
                {k + 1}
              </Link>
              <span>{l}</span>
            </div>
          ))}
        </pre>
      )}
    </div>
  );
}

function SideEffects({ id, index, paths }: { id: string; index: number; paths?: string[] }) {
  const docs = useLoad(async () => (paths ? Promise.all(paths.map((p) => getJson<Record<string, unknown>>(`${runPath(id)}/${p}`).catch(() => undefined))) : []), [id, index, paths?.join()]);
  if (!paths) return <Empty>The server cannot list side effects yet.</Empty>;
  if (!paths.length) return <Empty>No side effects declared at this step.</Empty>;
  return (
    <ul className="effects" data-testid="side-effects">
      {(docs.data ?? []).filter(isObj).map((d, k) => (
        <li key={k}>
          <Chip status={str(d.status)} /> <strong>{str(d.action)}</strong> on <code>{str(d.resource)}</code>
          {str(d.reversibility) && <span className={`rev rev-${str(d.reversibility)}`}>{str(d.reversibility)}</span>}
          {d.observed_result !== undefined && <JsonBlock value={d.observed_result} limit={300} />}
        </li>
      ))}
    </ul>
  );
}
