import { useState } from 'react';
import { getJson, write } from '../api';
import { useLoad } from '../hooks';
import type { Me } from '../model';
import { ago } from '../util';
import { Confirm, CopyLine, Empty, ErrorView, Modal } from './common';

interface Dsn {
  id: string;
  client_name: string;
  key_prefix: string;
  created_at: string;
  revoked_at?: string | null;
  last_used_at?: string | null;
}
interface DsnMint {
  dsn: string;
  api_key?: string;
  export?: string;
  id?: string;
}
interface Token {
  id: string;
  name: string;
  prefix: string;
  created_at: string;
  expires_at?: string | null;
  last_used_at?: string | null;
}

/** The shell line an agent needs; the server's own when it sends one. */
export const exportLine = (m: DsnMint): string => m.export ?? `export AUGUR_DSN='${m.dsn}'`;

export function Settings({ me }: { me: Me }) {
  return (
    <div className="page settings">
      <h1>Settings · {me.tenant.slug}</h1>
      {me.impersonating && <p className="stale">Read-only while impersonating: minting and revoking are refused.</p>}
      <Dsns />
      <Tokens />
    </div>
  );
}

function Dsns() {
  const list = useLoad(() => getJson<{ dsns: Dsn[] }>('/tenant/dsns').then((r) => r.dsns), []);
  const [name, setName] = useState('');
  const [minted, setMinted] = useState<DsnMint>();
  const [revoke, setRevoke] = useState<Dsn>();
  const [err, setErr] = useState<unknown>();
  return (
    <section className="card" data-testid="dsns">
      <h2>DSNs</h2>
      <p className="muted">An agent sends its runs with a DSN. The key is shown once, when it is minted; Augur keeps only its hash.</p>
      <form
        className="inline"
        onSubmit={async (e) => {
          e.preventDefault();
          setErr(undefined);
          try {
            setMinted(await write<DsnMint>('POST', '/tenant/dsns', { client_name: name.trim() }));
            setName('');
            list.reload();
          } catch (x) {
            setErr(x);
          }
        }}
      >
        <input placeholder="client name, e.g. checkout-agent" value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} aria-label="Client name" data-testid="dsn-name" />
        <button type="submit" className="primary" data-testid="dsn-mint">
          Mint DSN
        </button>
      </form>
      {err !== undefined && <ErrorView error={err} what="DSN" />}
      {list.error !== undefined && <ErrorView error={list.error} what="DSNs" onRetry={list.reload} />}
      {list.data && list.data.length === 0 && <Empty>No DSNs yet.</Empty>}
      {list.data && list.data.length > 0 && (
        <table className="list">
          <thead>
            <tr>
              <th>Client</th>
              <th>Key</th>
              <th>Created</th>
              <th>Last used</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.data.map((d) => (
              <tr key={d.id} className={d.revoked_at ? 'revoked' : undefined} data-testid="dsn-row" data-prefix={d.key_prefix}>
                <td>{d.client_name}</td>
                <td>
                  <code>{d.key_prefix}…</code>
                </td>
                <td>{ago(d.created_at)}</td>
                <td>{ago(d.last_used_at)}</td>
                <td>
                  {d.revoked_at ? (
                    <span className="muted">revoked {ago(d.revoked_at)}</span>
                  ) : (
                    <button type="button" className="danger" onClick={() => setRevoke(d)} data-testid="dsn-revoke">
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {minted && (
        <Modal title="DSN minted" onClose={() => setMinted(undefined)} testid="dsn-minted">
          <p>
            Copy it now: <strong>the key is not shown again.</strong>
          </p>
          <CopyLine text={minted.dsn} label="dsn" />
          <p>In the agent's environment:</p>
          <CopyLine text={exportLine(minted)} label="export" />
          <div className="modal-actions">
            <button type="button" className="primary" onClick={() => setMinted(undefined)}>
              Done
            </button>
          </div>
        </Modal>
      )}
      {revoke && (
        <Confirm
          title={`Revoke ${revoke.key_prefix}?`}
          body={<p>Agents using the DSN for {revoke.client_name} are refused within seconds. This cannot be undone.</p>}
          action="Revoke"
          danger
          onConfirm={async () => {
            await write('DELETE', `/tenant/dsns/${encodeURIComponent(revoke.id)}`);
            list.reload();
          }}
          onClose={() => setRevoke(undefined)}
        />
      )}
    </section>
  );
}

function Tokens() {
  const list = useLoad(() => getJson<{ tokens: Token[] }>('/auth/tokens').then((r) => r.tokens), []);
  const [name, setName] = useState('');
  const [days, setDays] = useState('30');
  const [minted, setMinted] = useState<string>();
  const [revoke, setRevoke] = useState<Token>();
  const [err, setErr] = useState<unknown>();
  return (
    <section className="card" data-testid="tokens">
      <h2>Personal read tokens</h2>
      <p className="muted">For coding agents and scripts that read runs over the API (GET only) as you.</p>
      <form
        className="inline"
        onSubmit={async (e) => {
          e.preventDefault();
          setErr(undefined);
          try {
            const r = await write<{ token: string }>('POST', '/auth/tokens', { name: name.trim(), expires_in_days: days ? Number(days) : null });
            setMinted(r?.token);
            setName('');
            list.reload();
          } catch (x) {
            setErr(x);
          }
        }}
      >
        <input placeholder="name, e.g. claude-code on laptop" value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} aria-label="Token name" />
        <select value={days} onChange={(e) => setDays(e.target.value)} aria-label="Expires">
          <option value="7">7 days</option>
          <option value="30">30 days</option>
          <option value="90">90 days</option>
          <option value="">never expires</option>
        </select>
        <button type="submit" className="primary">
          Create token
        </button>
      </form>
      {err !== undefined && <ErrorView error={err} what="Token" />}
      {list.error !== undefined && <ErrorView error={list.error} what="Tokens" onRetry={list.reload} />}
      {list.data && list.data.length === 0 && <Empty>No tokens.</Empty>}
      {list.data && list.data.length > 0 && (
        <table className="list">
          <thead>
            <tr>
              <th>Name</th>
              <th>Token</th>
              <th>Created</th>
              <th>Expires</th>
              <th>Last used</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.data.map((t) => (
              <tr key={t.id}>
                <td>{t.name}</td>
                <td>
                  <code>{t.prefix}…</code>
                </td>
                <td>{ago(t.created_at)}</td>
                <td>{t.expires_at ? new Date(t.expires_at).toLocaleDateString() : 'never'}</td>
                <td>{ago(t.last_used_at)}</td>
                <td>
                  <button type="button" className="danger" onClick={() => setRevoke(t)}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {minted && (
        <Modal title="Read token created" onClose={() => setMinted(undefined)}>
          <p>
            Copy it now: <strong>it is not shown again.</strong>
          </p>
          <CopyLine text={`export AUGUR_READ_TOKEN=${minted}`} />
          <div className="modal-actions">
            <button type="button" className="primary" onClick={() => setMinted(undefined)}>
              Done
            </button>
          </div>
        </Modal>
      )}
      {revoke && (
        <Confirm
          title={`Revoke ${revoke.name}?`}
          body={<p>The token stops working at once.</p>}
          action="Revoke"
          danger
          onConfirm={async () => {
            await write('DELETE', `/auth/tokens/${encodeURIComponent(revoke.id)}`);
            list.reload();
          }}
          onClose={() => setRevoke(undefined)}
        />
      )}
    </section>
  );
}
