import { useEffect, useRef, useState, type ReactNode } from 'react';
import { HttpError } from '../api';
import { onLink } from '../router';
import { copy } from '../util';

export function Link(props: { to: string; children: ReactNode; className?: string; title?: string; testid?: string }) {
  return (
    <a href={props.to} onClick={onLink} className={props.className} title={props.title} data-testid={props.testid}>
      {props.children}
    </a>
  );
}

export function Chip({ status }: { status?: string | null }) {
  const s = status || 'unknown';
  return <span className={`chip chip-${s.replace(/[^a-z_]/gi, '')}`}>{s}</span>;
}

export function LiveBadge() {
  return (
    <span className="live" title="Heard from in the last 60 s">
      <span className="pulse" aria-hidden="true" />
      live
    </span>
  );
}

/** What went wrong, in words, for each class of failure. */
export function ErrorView({ error, what, onRetry }: { error: unknown; what: string; onRetry?: () => void }) {
  const e = error instanceof HttpError ? error : new HttpError(0, 'client', String((error as Error)?.message ?? error));
  let title: string;
  let body: ReactNode;
  if (e.status === 404) {
    title = `${what} not found`;
    body = 'It does not exist in this workspace. It may belong to another workspace, or the link is wrong.';
  } else if (e.status === 403) {
    title = `No access to ${what.toLowerCase()}`;
    body = e.code === 'impersonation_read_only' ? 'Read-only while impersonating another workspace: stop impersonating to make changes.' : e.message;
  } else if (e.status === 401) {
    title = 'Signed out';
    body = 'Your session ended. Sign in again.';
  } else if (e.status >= 500) {
    title = 'Augur had a problem';
    body = (
      <>
        The server answered {e.status} ({e.message}).
        {e.requestId && (
          <>
            {' '}
            Quote request id <code>{e.requestId}</code> when reporting it.
          </>
        )}
      </>
    );
  } else if (e.status === 0) {
    title = 'Augur is unreachable';
    body = e.message;
  } else {
    title = `Could not load ${what.toLowerCase()}`;
    body = `${e.status} ${e.code}: ${e.message}`;
  }
  return (
    <div className="error-state" role="alert" data-testid="error-state">
      <h2>{title}</h2>
      <p>{body}</p>
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Modal(props: { title: string; children: ReactNode; onClose: () => void; testid?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && props.onClose();
    window.addEventListener('keydown', onKey);
    ref.current?.querySelector<HTMLElement>('input, button.primary, button')?.focus();
    return () => window.removeEventListener('keydown', onKey);
  }, [props]);
  return (
    <div className="modal-back" onClick={props.onClose}>
      <div className="modal" role="dialog" aria-modal="true" aria-label={props.title} ref={ref} onClick={(e) => e.stopPropagation()} data-testid={props.testid}>
        <h2>{props.title}</h2>
        {props.children}
      </div>
    </div>
  );
}

export function Confirm(props: { title: string; body: ReactNode; action: string; danger?: boolean; onConfirm: () => void | Promise<void>; onClose: () => void }) {
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<unknown>();
  return (
    <Modal title={props.title} onClose={props.onClose} testid="confirm">
      <div>{props.body}</div>
      {err !== undefined && <ErrorView error={err} what="Action" />}
      <div className="modal-actions">
        <button type="button" onClick={props.onClose}>
          Cancel
        </button>
        <button
          type="button"
          className={props.danger ? 'danger' : 'primary'}
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            try {
              await props.onConfirm();
              props.onClose();
            } catch (e) {
              setErr(e);
              setBusy(false);
            }
          }}
        >
          {props.action}
        </button>
      </div>
    </Modal>
  );
}

export function CopyLine({ text, label }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <div className="copy-line">
      <code data-testid={label ? `copy-${label}` : undefined}>{text}</code>
      <button
        type="button"
        onClick={async () => {
          setDone(await copy(text));
          window.setTimeout(() => setDone(false), 1500);
        }}
      >
        {done ? 'Copied' : 'Copy'}
      </button>
    </div>
  );
}

/** JSON, collapsed past a size so big payloads do not swamp the page. */
export function JsonBlock({ value, open = false, limit = 4000 }: { value: unknown; open?: boolean; limit?: number }) {
  const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  const [show, setShow] = useState(open || (text?.length ?? 0) <= limit);
  if (text === undefined) return null;
  if (!show)
    return (
      <button type="button" className="linkish" onClick={() => setShow(true)}>
        Show {text.length.toLocaleString()} characters
      </button>
    );
  return <pre className="json">{text}</pre>;
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>;
}
