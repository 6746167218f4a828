/**
 * API tokens (admins only): create one with a name, a scope and an optional expiry; the secret
 * is shown once, with a copy button and a warning, and kept nowhere but this component's state
 * until Done; list every token with its state; revoke (after a confirmation, since a revoked
 * token cannot be restored). The form validates with the API's request schema before sending.
 */
import type { FormEvent } from 'react';
import { useRef, useState } from 'react';
import { SCOPES, type Scope } from '../../../../src/shared/api/common';
import {
  createTokenRequestSchema,
  createdTokenSchema,
  tokenInfoSchema,
  tokenListResponseSchema,
  type CreatedToken,
  type TokenInfo,
} from '../../../../src/shared/api/tokens';
import { useAuth } from '../../app/auth';
import { ErrorBanner } from '../../components/ErrorBanner';
import { Field } from '../../components/Field';
import { Panel } from '../../components/Stat';
import { Table, type Column } from '../../components/Table';
import { api, errorMessage } from '../../lib/api';
import { browserTimeZone, formatDateTime } from '../../lib/time';
import { useQuery } from '../../lib/use-query';

const SCOPE_HINTS: Record<Scope, string> = {
  viewer: 'reads everything, changes nothing',
  labeler: 'also works the labeling queue',
  admin: 'may do anything, including tokens',
  agent: 'a camera agent: sends results',
};

type TokenErrors = Partial<Record<'name' | 'scope' | 'expiresAt' | '', string>>;

/** The state a token is in, as a word (never colour alone). */
function tokenState(token: TokenInfo, now: number): 'Active' | 'Revoked' | 'Expired' {
  if (token.revokedAt !== null) return 'Revoked';
  if (token.expiresAt !== null && token.expiresAt <= now) return 'Expired';
  return 'Active';
}

/** `datetime-local` text (the browser's zone) → epoch ms; null for empty, NaN for nonsense. */
function parseLocalDateTime(text: string): number | null {
  if (text.trim() === '') return null;
  return new Date(text).getTime();
}

export function TokensPanel() {
  const { state } = useAuth();
  const ownTokenId = state.status === 'signed-in' ? state.session.tokenId : null;
  const list = useQuery(
    (signal) => api.get('/api/tokens', tokenListResponseSchema, { signal }),
    [],
  );
  const [name, setName] = useState('');
  const [scope, setScope] = useState<Scope>('viewer');
  const [expires, setExpires] = useState('');
  const [errors, setErrors] = useState<TokenErrors>({});
  const [creating, setCreating] = useState(false);
  const [refusal, setRefusal] = useState<string | null>(null);
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const [copyState, setCopyState] = useState<string>('');
  const [confirming, setConfirming] = useState<string | null>(null);
  const [revokeError, setRevokeError] = useState<string | null>(null);
  const nameRef = useRef<HTMLInputElement>(null);
  const expiresRef = useRef<HTMLInputElement>(null);
  const secretRef = useRef<HTMLInputElement>(null);

  const onCreate = async (event: FormEvent<HTMLFormElement>): Promise<void> => {
    event.preventDefault();
    if (creating) return;
    setRefusal(null);
    const expiresAt = parseLocalDateTime(expires);
    const found: TokenErrors = {};
    if (expiresAt !== null && !Number.isFinite(expiresAt))
      found.expiresAt = 'Enter a date and time';
    else if (expiresAt !== null && expiresAt <= Date.now())
      found.expiresAt = 'Must be in the future';
    const request = {
      name: name.trim(),
      scope,
      ...(expiresAt === null || !Number.isFinite(expiresAt) ? {} : { expiresAt }),
    };
    const parsed = createTokenRequestSchema.safeParse(request);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const key = String(issue.path[0] ?? '') as keyof TokenErrors;
        const field = key === 'name' || key === 'scope' || key === 'expiresAt' ? key : '';
        found[field] ??=
          field === 'name' && issue.code === 'too_small' ? 'Enter a name' : issue.message;
      }
    }
    setErrors(found);
    if (Object.keys(found).length > 0 || !parsed.success) {
      (found.name !== undefined ? nameRef : expiresRef).current?.focus();
      return;
    }
    setCreating(true);
    try {
      const token = await api.post('/api/tokens', parsed.data, createdTokenSchema);
      setCreated(token);
      setCopyState('');
      setName('');
      setExpires('');
      list.refresh();
      // The secret takes the focus so a keyboard user can copy it at once.
      requestAnimationFrame(() => secretRef.current?.focus());
    } catch (error) {
      setRefusal(errorMessage(error));
    } finally {
      setCreating(false);
    }
  };

  const copySecret = async (): Promise<void> => {
    if (created === null) return;
    try {
      await navigator.clipboard.writeText(created.token);
      setCopyState('Copied to the clipboard.');
    } catch {
      // No clipboard permission (e.g. plain http on another host): select it for Ctrl+C.
      secretRef.current?.select();
      setCopyState('Selected: press Ctrl+C to copy.');
    }
  };

  const revoke = async (token: TokenInfo): Promise<void> => {
    setRevokeError(null);
    try {
      await api.delete(`/api/tokens/${encodeURIComponent(token.id)}`, tokenInfoSchema);
      setConfirming(null);
      list.refresh();
    } catch (error) {
      setRevokeError(`Could not revoke “${token.name}”: ${errorMessage(error)}`);
    }
  };

  const now = Date.now();
  const columns: Column<TokenInfo>[] = [
    {
      key: 'name',
      header: 'Name',
      render: (t) => (
        <>
          {t.name}
          {t.id === ownTokenId && <span className="muted"> (this session)</span>}
        </>
      ),
    },
    { key: 'scope', header: 'Scope', render: (t) => t.scope },
    {
      key: 'state',
      header: 'State',
      render: (t) => {
        const word = tokenState(t, now);
        return (
          <span className={`settings-token-state settings-token-${word.toLowerCase()}`}>
            <span aria-hidden="true">{word === 'Active' ? '● ' : '○ '}</span>
            {word}
          </span>
        );
      },
    },
    { key: 'created', header: 'Created', render: (t) => formatDateTime(t.createdAt) },
    {
      key: 'used',
      header: 'Last used',
      render: (t) => (t.lastUsedAt === null ? 'never' : formatDateTime(t.lastUsedAt)),
    },
    {
      key: 'expires',
      header: 'Expires',
      render: (t) => (t.expiresAt === null ? 'never' : formatDateTime(t.expiresAt)),
    },
    {
      key: 'actions',
      header: <span className="visually-hidden">Actions</span>,
      render: (t) => {
        if (tokenState(t, now) !== 'Active') return null;
        if (confirming === t.id) {
          return (
            <span className="settings-confirm">
              <span>
                Revoke “{t.name}”{t.id === ownTokenId ? ' (signs you out)' : ''}?
              </span>{' '}
              <button
                type="button"
                className="button-danger"
                // The Revoke button it replaces had the focus: keep the keyboard where it was.
                autoFocus
                onClick={() => void revoke(t)}
              >
                Confirm revoke
              </button>{' '}
              <button type="button" className="button-quiet" onClick={() => setConfirming(null)}>
                Cancel
              </button>
            </span>
          );
        }
        return (
          <button
            type="button"
            aria-label={`Revoke token ${t.name}`}
            onClick={() => setConfirming(t.id)}
          >
            Revoke
          </button>
        );
      },
    },
  ];

  return (
    <Panel title="API tokens" className="settings-section settings-tokens">
      {created !== null && (
        <div className="notice settings-secret" role="region" aria-label="New token">
          <p>
            <strong>
              <span aria-hidden="true">▲ </span>Copy the token for “{created.name}” ({created.scope}
              ) now: it is shown only this once.
            </strong>{' '}
            The server keeps only its hash; if it is lost, revoke it and create another.
          </p>
          <div className="settings-secret-row">
            <label htmlFor="settings-new-token" className="visually-hidden">
              New token secret
            </label>
            <input
              id="settings-new-token"
              ref={secretRef}
              readOnly
              value={created.token}
              spellCheck={false}
              onFocus={(event) => event.target.select()}
            />
            <button type="button" className="button-primary" onClick={() => void copySecret()}>
              Copy token
            </button>
            <button
              type="button"
              onClick={() => {
                setCreated(null);
                setCopyState('');
              }}
            >
              Done, hide it
            </button>
          </div>
          <span role="status">{copyState}</span>
        </div>
      )}

      <form
        className="settings-token-form"
        noValidate
        aria-label="Create a token"
        onSubmit={(event) => void onCreate(event)}
      >
        <Field
          label="Token name"
          hint="Who or what holds it, e.g. “line 2 tablet”"
          error={errors.name}
        >
          {(props) => (
            <input
              {...props}
              ref={nameRef}
              type="text"
              value={name}
              autoComplete="off"
              onChange={(event) => setName(event.target.value)}
            />
          )}
        </Field>
        <Field label="Scope" hint={SCOPE_HINTS[scope]} error={errors.scope}>
          {(props) => (
            <select
              {...props}
              value={scope}
              onChange={(event) => setScope(event.target.value as Scope)}
            >
              {SCOPES.map((option) => (
                <option key={option} value={option}>
                  {option}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field
          label="Expires"
          hint={`Optional; your time zone (${browserTimeZone()})`}
          error={errors.expiresAt}
        >
          {(props) => (
            <input
              {...props}
              ref={expiresRef}
              type="datetime-local"
              value={expires}
              onChange={(event) => setExpires(event.target.value)}
            />
          )}
        </Field>
        <div className="settings-actions">
          <button type="submit" className="button-primary" disabled={creating}>
            {creating ? 'Creating…' : 'Create token'}
          </button>
        </div>
      </form>
      {errors[''] !== undefined && (
        <p className="field-error" role="alert">
          {errors['']}
        </p>
      )}
      {refusal !== null && (
        <div className="error-banner" role="alert">
          <span aria-hidden="true">■ </span>
          <strong>The server refused the token:</strong> {refusal}
        </div>
      )}
      {revokeError !== null && (
        <div className="error-banner" role="alert">
          <span aria-hidden="true">■ </span>
          {revokeError}
        </div>
      )}
      <ErrorBanner error={list.error} onRetry={list.refresh} what="tokens" />
      {list.data !== undefined && (
        <Table
          caption="Tokens"
          columns={columns}
          rows={list.data.tokens}
          rowKey={(t) => t.id}
          empty="No tokens yet."
        />
      )}
    </Panel>
  );
}
