import { useState } from 'react';
import { HttpError, write } from '../api';

export function Login({ onIn }: { onIn: () => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  return (
    <main className="login">
      <form
        className="card"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            await write('POST', '/auth/login', { email, password });
            onIn();
          } catch (err) {
            const he = err instanceof HttpError ? err : undefined;
            setError(
              he?.code === 'invalid_login'
                ? 'Wrong email or password.'
                : he?.code === 'rate_limited'
                  ? 'Too many failed attempts. Wait a few minutes and try again.'
                  : (he?.message ?? String(err)),
            );
            setBusy(false);
          }
        }}
      >
        <h1>Augur</h1>
        <p className="muted">Sign in to read your agents' runs.</p>
        <label>
          Email
          <input name="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p className="muted small">
          First start? The admin's email and password are printed on the server's stderr (or set with AUGUR_ADMIN_EMAIL and AUGUR_ADMIN_PASSWORD).
        </p>
      </form>
    </main>
  );
}
