/**
 * The "why?" form in front of an admin action that moves what cameras run (rolling an alias
 * back, promoting or rolling back a rollout): a required reason, checked with the request's
 * own schema, kept in the alias history. The action itself is `send`; its failure is shown
 * in the form, which stays open.
 */
import type { FormEvent, ReactNode } from 'react';
import { useState } from 'react';
import type { z } from 'zod';
import { errorMessage } from '../lib/api';
import { Field } from './Field';

export function ReasonForm<Body extends { reason?: string }>({
  label,
  title,
  fieldLabel,
  submitLabel,
  submitClassName,
  schema,
  send,
  onDone,
  onClose,
}: {
  /** The form's accessible name. */
  label: string;
  title: ReactNode;
  fieldLabel: string;
  submitLabel: ReactNode;
  submitClassName: string;
  /** The request body's schema; it sees `{ reason }` with the reason trimmed. */
  schema: z.ZodType<Body>;
  send: (body: Body) => Promise<unknown>;
  /** After `send` succeeded. */
  onDone: () => void;
  onClose: () => void;
}) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [requestError, setRequestError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const parsed = schema.safeParse({ reason: reason.trim() });
    if (!parsed.success) {
      setError(parsed.error.issues[0]?.message ?? 'invalid reason');
      return;
    }
    if (reason.trim() === '') {
      setError('Say why (it is kept in the alias history).');
      return;
    }
    setError(null);
    setRequestError(null);
    setSending(true);
    send(parsed.data)
      .then(onDone, (failure: unknown) => setRequestError(errorMessage(failure)))
      .finally(() => setSending(false));
  };
  return (
    <form className="models-form" onSubmit={submit} noValidate aria-label={label}>
      <h3 className="models-subtitle">{title}</h3>
      <Field label={fieldLabel} error={error}>
        {(props) => (
          <textarea
            {...props}
            rows={2}
            value={reason}
            autoFocus
            onChange={(e) => setReason(e.target.value)}
          />
        )}
      </Field>
      {requestError !== null && (
        <p className="error-banner" role="alert">
          <span aria-hidden="true">■ </span>
          {requestError}
        </p>
      )}
      <div className="models-actions">
        <button type="submit" className={submitClassName} disabled={sending}>
          {submitLabel}
        </button>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </form>
  );
}
