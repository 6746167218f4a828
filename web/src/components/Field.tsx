/**
 * A labelled form field with its hint and error text, wired for screen readers: the control
 * gets `id`, `aria-invalid` and `aria-describedby` through the render prop.
 *
 *     <Field label="Fail threshold" error={errors.failThreshold}>
 *       {(props) => <input {...props} type="number" value={v} onChange={…} />}
 *     </Field>
 */
import type { ReactNode } from 'react';
import { useId } from 'react';

export interface FieldControlProps {
  id: string;
  'aria-invalid': boolean;
  'aria-describedby': string | undefined;
}

export interface FieldProps {
  label: string;
  hint?: ReactNode;
  /** The error to show next to the field; null/undefined/'' for none. */
  error?: string | null | undefined;
  children: (props: FieldControlProps) => ReactNode;
}

export function Field({ label, hint, error, children }: FieldProps) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const hasError = error !== null && error !== undefined && error !== '';
  const describedBy = [hint !== undefined ? hintId : null, hasError ? errorId : null]
    .filter((value) => value !== null)
    .join(' ');
  return (
    <div className={`field${hasError ? ' field-invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {children({ id, 'aria-invalid': hasError, 'aria-describedby': describedBy || undefined })}
      {hint !== undefined && (
        <small id={hintId} className="field-hint">
          {hint}
        </small>
      )}
      {hasError && (
        <span id={errorId} className="field-error" role="alert">
          <span aria-hidden="true">■ </span>
          {error}
        </span>
      )}
    </div>
  );
}
