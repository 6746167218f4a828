/**
 * Sign-in with an API token (the admin token `visionloop up` prints works; `visionloop token
 * create` makes others). The token is checked with the server before anything else shows;
 * a refusal is shown at the field.
 */
import type { FormEvent } from 'react';
import { useState } from 'react';
import { useAuth } from '../../app/auth';
import { Field } from '../../components/Field';

export function SignInPage({ notice }: { notice: string | null }) {
  const { signIn } = useAuth();
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    void signIn(token).then((failure) => {
      setBusy(false);
      setError(failure);
    });
  };

  return (
    <main className="signin" id="main">
      <form onSubmit={submit} className="signin-card" aria-labelledby="signin-title" noValidate>
        <h1 id="signin-title">Sign in to VisionLoop</h1>
        {notice !== null && (
          <p className="notice" role="alert">
            {notice}
          </p>
        )}
        <Field
          label="API token"
          hint={
            <>
              The admin token that <code>npm start</code> (<code>visionloop up</code>) prints, or
              one made with <code>visionloop token create</code>.
            </>
          }
          error={error}
        >
          {(props) => (
            <input
              {...props}
              type="password"
              autoComplete="current-password"
              spellCheck={false}
              value={token}
              onChange={(event) => setToken(event.target.value)}
              placeholder="vl_…"
              autoFocus
            />
          )}
        </Field>
        <button type="submit" className="button-primary" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
