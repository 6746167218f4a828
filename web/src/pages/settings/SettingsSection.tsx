/**
 * One settings section as a form: its fields in groups, Save for admins (others see the values
 * read-only). Saving checks the form with the API's schemas first (settings-form.ts): each
 * problem is shown next to its field, the first bad field takes the focus, and nothing is sent.
 * A refusal the server still makes is shown above the Save button.
 */
import type { FormEvent } from 'react';
import { useEffect, useRef, useState } from 'react';
import { useCan } from '../../app/auth';
import { ADMINS } from '../../app/scopes';
import { ErrorBanner } from '../../components/ErrorBanner';
import { Field } from '../../components/Field';
import { Panel } from '../../components/Stat';
import { api, errorMessage } from '../../lib/api';
import { formatDateTime } from '../../lib/time';
import { useQuery } from '../../lib/use-query';
import {
  checkSection,
  fieldsOf,
  formValuesOf,
  type FieldErrors,
  type FieldSpec,
  type FormValue,
  type FormValues,
  type SectionSpec,
} from './settings-form';

/** `sampling.strategies.uncertainty.low` → a DOM-safe id part. */
function fieldKey(sectionId: string, path: string): string {
  return `settings-${sectionId}-${path.replace(/[^A-Za-z0-9]+/g, '-')}`;
}

export function SettingsSection<T extends object>({ spec }: { spec: SectionSpec<T> }) {
  const canEdit = useCan(ADMINS);
  const query = useQuery((signal) => api.get(spec.url, spec.fullSchema, { signal }), [spec.url]);
  const [values, setValues] = useState<FormValues | null>(null);
  const [errors, setErrors] = useState<FieldErrors>({});
  /** After a first Save attempt, problems update as the person types. */
  const [checked, setChecked] = useState(false);
  const [saving, setSaving] = useState(false);
  const [refusal, setRefusal] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const formRef = useRef<HTMLFormElement>(null);
  const stored = query.data;
  const anySpec = spec as unknown as SectionSpec<object>;

  /** Fields the person changed since the last save: fresh settings never overwrite them. */
  const touched = useRef(new Set<string>());
  const dirty =
    values !== null && stored !== undefined && checkSection(anySpec, stored, values).changed;
  // Fresh settings (a reload, or after a refusal) replace every field the person did not touch,
  // so a later Save never sends back a value someone else changed meanwhile.
  useEffect(() => {
    if (stored === undefined) return;
    const fresh: Record<string, FormValue> = { ...formValuesOf(anySpec, stored) };
    for (const path of touched.current) {
      const mine = values?.[path];
      if (mine !== undefined) fresh[path] = mine;
    }
    setValues(fresh);
    if (checked) setErrors(checkSection(anySpec, stored, fresh).errors);
    // eslint-disable-next-line react-hooks/exhaustive-deps -- only when new settings arrive
  }, [stored]);

  if (stored === undefined || values === null) {
    return (
      <Panel title={spec.title} className="settings-section">
        {query.error !== undefined ? (
          <ErrorBanner
            error={query.error}
            onRetry={query.refresh}
            what={spec.title.toLowerCase()}
          />
        ) : (
          <p className="loading">Loading…</p>
        )}
      </Panel>
    );
  }

  const setValue = (path: string, value: FormValue): void => {
    const next = { ...values, [path]: value };
    touched.current.add(path);
    setValues(next);
    setSaved(null);
    if (checked) setErrors(checkSection(anySpec, stored, next).errors);
  };

  const focusFirstError = (found: FieldErrors): void => {
    const first = fieldsOf(anySpec).find((field) => found[field.path] !== undefined);
    if (first === undefined) return;
    const control = formRef.current?.querySelector<HTMLElement>(`[data-field="${first.path}"]`);
    control?.focus();
  };

  const onSubmit = async (event: FormEvent<HTMLFormElement>): Promise<void> => {
    event.preventDefault();
    if (!canEdit || saving) return;
    setChecked(true);
    setRefusal(null);
    setSaved(null);
    const check = checkSection(anySpec, stored, values);
    setErrors(check.errors);
    if (check.body === null) {
      focusFirstError(check.errors);
      return;
    }
    if (!check.changed) {
      setSaved('Nothing changed.');
      return;
    }
    setSaving(true);
    try {
      const answer = await api.put(spec.url, check.body, spec.fullSchema);
      touched.current.clear();
      setValues(formValuesOf(anySpec, answer));
      setChecked(false);
      setErrors({});
      const revision = (answer as { revision?: unknown }).revision;
      setSaved(
        `Saved${typeof revision === 'number' ? ` (revision ${revision})` : ''} at ${formatDateTime(Date.now())}.`,
      );
      query.refresh();
    } catch (error) {
      setRefusal(errorMessage(error));
      // The settings may have changed under the form: show the stored values beside the edits.
      query.refresh();
    } finally {
      setSaving(false);
    }
  };

  const reset = (): void => {
    touched.current.clear();
    setValues(formValuesOf(anySpec, stored));
    setErrors({});
    setChecked(false);
    setRefusal(null);
    setSaved(null);
  };

  const unplaced = errors[''];
  return (
    <Panel title={spec.title} className="settings-section">
      <form
        ref={formRef}
        noValidate
        aria-label={spec.title}
        onSubmit={(event) => void onSubmit(event)}
      >
        <fieldset className="settings-fieldset-plain" disabled={!canEdit || saving}>
          {spec.groups.map((group) => (
            <fieldset key={group.title} className="settings-group">
              <legend>{group.title}</legend>
              <div className="settings-fields">
                {group.fields.map((field) => (
                  <FieldControl
                    key={field.path}
                    sectionId={spec.id}
                    field={field}
                    value={values[field.path]}
                    error={errors[field.path]}
                    onChange={(value) => setValue(field.path, value)}
                  />
                ))}
              </div>
            </fieldset>
          ))}
        </fieldset>
        {unplaced !== undefined && (
          <p className="field-error" role="alert">
            <span aria-hidden="true">■ </span>
            {unplaced}
          </p>
        )}
        {refusal !== null && (
          <div className="error-banner" role="alert">
            <span aria-hidden="true">■ </span>
            <strong>The server refused the change:</strong> {refusal}
          </div>
        )}
        <div className="settings-actions">
          {canEdit ? (
            <>
              <button type="submit" className="button-primary" disabled={saving}>
                {saving ? 'Saving…' : `Save ${spec.title.toLowerCase()}`}
              </button>
              <button
                type="button"
                className="button-quiet"
                onClick={reset}
                disabled={!dirty || saving}
              >
                Undo changes
              </button>
            </>
          ) : (
            <span className="muted">Read-only: only admins change settings.</span>
          )}
          <span role="status" className="settings-saved">
            {saved ?? (dirty ? 'Unsaved changes' : '')}
          </span>
        </div>
      </form>
    </Panel>
  );
}

function FieldControl({
  sectionId,
  field,
  value,
  error,
  onChange,
}: {
  sectionId: string;
  field: FieldSpec;
  value: FormValue | undefined;
  error: string | undefined;
  onChange: (value: FormValue) => void;
}) {
  const kind = field.kind;
  if (kind.type === 'boolean') {
    const id = fieldKey(sectionId, field.path);
    const hintId = `${id}-hint`;
    const errorId = `${id}-error`;
    const described = [
      field.help === undefined ? null : hintId,
      error === undefined ? null : errorId,
    ]
      .filter((part) => part !== null)
      .join(' ');
    return (
      <div className={`field settings-check${error === undefined ? '' : ' field-invalid'}`}>
        <label htmlFor={id}>
          <input
            id={id}
            type="checkbox"
            data-field={field.path}
            checked={value === true}
            aria-invalid={error !== undefined}
            aria-describedby={described || undefined}
            onChange={(event) => onChange(event.target.checked)}
          />{' '}
          {field.label}
        </label>
        {field.help !== undefined && (
          <small id={hintId} className="field-hint">
            {field.help}
          </small>
        )}
        {error !== undefined && (
          <span id={errorId} className="field-error" role="alert">
            <span aria-hidden="true">■ </span>
            {error}
          </span>
        )}
      </div>
    );
  }
  const text = typeof value === 'string' ? value : '';
  return (
    <Field label={field.label} hint={field.help} error={error}>
      {(props) => {
        switch (kind.type) {
          case 'choice':
            return (
              <select
                {...props}
                data-field={field.path}
                value={text}
                onChange={(event) => onChange(event.target.value)}
              >
                {kind.options.map((option) => (
                  <option key={option} value={option}>
                    {option}
                  </option>
                ))}
              </select>
            );
          case 'list':
            return (
              <input
                {...props}
                type="text"
                data-field={field.path}
                value={text}
                autoComplete="off"
                onChange={(event) => onChange(event.target.value)}
              />
            );
          case 'number':
            return (
              <input
                {...props}
                type="number"
                inputMode="decimal"
                step={kind.step ?? 'any'}
                data-field={field.path}
                value={text}
                placeholder={kind.nullable === true ? 'off' : undefined}
                onChange={(event) => onChange(event.target.value)}
              />
            );
        }
      }}
    </Field>
  );
}
