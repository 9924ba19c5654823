import type { Finding } from '../model';
import { evidenceTarget } from '../model';
import { logUrl, runUrl } from '../router';
import { ErrorView, Link } from './common';

export function Diagnostics({ id, findings, error }: { id: string; findings?: Finding[]; error?: unknown }) {
  if (error !== undefined && !findings) return <ErrorView error={error} what="Diagnostics" />;
  if (!findings) return <p className="muted">Loading findings…</p>;
  if (findings.length === 0) return <div className="empty">No findings: the diagnostic rules found nothing wrong with this run.</div>;
  return (
    <ul className="findings" data-testid="findings">
      {findings.map((f, k) => (
        <li key={k} className={`sev-${f.severity}`} data-testid="finding">
          <div>
            <span className={`sev sev-${f.severity}`}>{f.severity}</span> <code>{f.rule}</code>
            {f.step_index !== undefined && <span className="muted"> · step {f.step_index}</span>}
          </div>
          <p className="summary">{f.summary}</p>
          {f.detail && <p className="muted small">{f.detail}</p>}
          {f.recommendation && (
            <p className="rec">
              <strong>Try:</strong> {f.recommendation}
            </p>
          )}
          {f.evidence.length > 0 && (
            <div className="evidence">
              Evidence:{' '}
              {f.evidence.map((e, j) => {
                const t = evidenceTarget(e.ref);
                const to =
                  t.log !== undefined
                    ? logUrl(id, t.log, t.line)
                    : t.step !== undefined
                      ? `${runUrl(id, t.step)}${t.shot ? `?shot=${t.shot}` : ''}`
                      : undefined;
                return to ? (
                  <Link key={j} to={to} className="ev" testid="evidence-link">
                    {e.type}: {e.ref}
                  </Link>
                ) : (
                  <code key={j} className="ev">
                    {e.type}: {e.ref}
                  </code>
                );
              })}
            </div>
          )}
        </li>
      ))}
    </ul>
  );
}
