import { getJsonl, getMaybe, runPath } from '../api';
import { useLoad } from '../hooks';
import type { Me } from '../model';
import { logUrl } from '../router';
import { isObj, str, usd } from '../util';
import { Chip, Empty, JsonBlock, Link } from './common';
import type { FileEntry } from './Run';
import { Reasoning } from './StepPanels';

/** Run-level documents: outcomes, eval candidates, costs, run events, run reasoning, the manifest. */
export function RunInfo({ id, manifest, session, files, reasoning }: { id: string; manifest?: Record<string, unknown>; session: Record<string, unknown>; files?: FileEntry[]; reasoning: Array<Record<string, unknown>>; me: Me }) {
  const docs = useLoad(
    async () => {
      const [outcomes, evals, costs, events] = await Promise.all([
        getMaybe<Record<string, unknown>>(`${runPath(id)}/outcomes.json`).catch(() => undefined),
        getMaybe<Record<string, unknown>>(`${runPath(id)}/eval_candidates.json`).catch(() => undefined),
        getMaybe<Record<string, unknown>>(`${runPath(id)}/costs.json`).catch(() => undefined),
        getJsonl(`${runPath(id)}/events/run.jsonl`).catch(() => undefined),
      ]);
      return { outcomes, evals, costs, events };
    },
    [id],
  );
  const d = docs.data;
  const outcomes = d?.outcomes && Array.isArray(d.outcomes.outcomes) ? d.outcomes.outcomes.filter(isObj) : [];
  const evals = d?.evals && Array.isArray(d.evals.candidates) ? d.evals.candidates.filter(isObj) : [];
  const runReasoning = reasoning.filter((r) => r.step_index === undefined || r.step_index === null);
  const logs = files?.filter((f) => /^logs\/.+\.log$/.test(f.path)).map((f) => f.path.slice(5, -4)) ?? ['run'];
  return (
    <div className="run-info" data-testid="run-info">
      <h4>Outcomes</h4>
      {outcomes.length === 0 ? (
        <Empty>No outcomes recorded.</Empty>
      ) : (
        <ul className="outcomes">
          {outcomes.map((o, k) => {
            const v = isObj(o.verdict) ? o.verdict : {};
            return (
              <li key={k}>
                <span className="muted">{str(o.scope)}</span>
                {typeof o.step_index === 'number' && <span className="muted"> step {o.step_index}</span>} <Chip status={str(v.status)} /> {str(v.reason)}
                {isObj(o.cost_summary) && <span className="muted small"> · {usd(o.cost_summary.total_usd)}</span>}
              </li>
            );
          })}
        </ul>
      )}
      {evals.length > 0 && (
        <>
          <h4>Eval candidates</h4>
          <ul>
            {evals.map((e, k) => (
              <li key={k}>
                step {String(e.step_index)}: {str(e.reason)} <span className="muted">{str(e.candidate_cluster_id)}</span>
              </li>
            ))}
          </ul>
        </>
      )}
      {d?.costs && (
        <>
          <h4>Costs</h4>
          <JsonBlock value={d.costs} />
        </>
      )}
      <h4>Run events</h4>
      {d?.events?.length ? (
        <ul className="events">
          {d.events.map((e, k) => (
            <li key={k}>
              <span className="kind">
                {str(e.layer)} {str(e.kind) ?? str(e.type)}
              </span>{' '}
              {str(e.summary) ?? str(e.message)}
              {e.detail !== undefined && <JsonBlock value={e.detail} limit={300} />}
            </li>
          ))}
        </ul>
      ) : (
        <Empty>No run-level events.</Empty>
      )}
      {runReasoning.length > 0 && (
        <>
          <h4>Reasoning</h4>
          <Reasoning items={runReasoning} />
        </>
      )}
      <h4>Logs</h4>
      <ul>
        {logs.map((n) => (
          <li key={n}>
            <Link to={logUrl(id, n)}>{n}.log</Link>
          </li>
        ))}
      </ul>
      <h4>Session</h4>
      <JsonBlock value={session} />
      {manifest && (
        <>
          <h4>Manifest</h4>
          <JsonBlock value={manifest} />
        </>
      )}
    </div>
  );
}
