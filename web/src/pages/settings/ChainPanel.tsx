/**
 * Settings → Inspection chain: the default chain and the per-camera overrides
 * (`GET/PUT /api/inspection-chain`). Stages after detect (classify, segment: alias, padding,
 * min confidence), the veto class, the camera's mm per pixel, max crops and the ordered list
 * of decision rules (add, remove, move up/down; the fields of each rule's kind). Save checks
 * the form with the API's chainConfigSchema first (chain-form.ts): each problem is shown at its
 * field and nothing is sent; a refusal the server still makes is mapped to its field too when
 * its message names one. A `chain` event (someone else saved) reloads the stored chains.
 */
import type { FormEvent } from 'react';
import { useEffect, useMemo, useRef, useState } from 'react';
import { agentListResponseSchema } from '../../../../src/shared/api/agents';
import {
  DEFAULT_CHAIN,
  inspectionChainsResponseSchema,
} from '../../../../src/shared/api/inspection-chain';
import type {
  ChainConfig,
  UpdateInspectionChainRequest,
} from '../../../../src/shared/api/inspection-chain';
import { useCan } from '../../app/auth';
import { ADMINS } from '../../app/scopes';
import { ErrorBanner } from '../../components/ErrorBanner';
import { Field } from '../../components/Field';
import { Panel } from '../../components/Stat';
import { ApiError, api, errorMessage } from '../../lib/api';
import { formatDateTime } from '../../lib/time';
import { useEvents } from '../../lib/use-events';
import { useQuery } from '../../lib/use-query';
import {
  RULE_KINDS,
  RULE_KIND_LABELS,
  STAGE_KINDS,
  checkChainDraft,
  draftFromChain,
  moveRule,
  newRule,
  serverErrors,
} from './chain-form';
import type { ChainDraft, ChainErrors, RuleDraft, RuleKind, StageDraft } from './chain-form';

/** The select's value for the default chain (camera names never start with `*`). */
const DEFAULT_TARGET = '*default';

export function ChainPanel() {
  const canEdit = useCan(ADMINS);
  const chains = useQuery(
    (signal) => api.get('/api/inspection-chain', inspectionChainsResponseSchema, { signal }),
    [],
  );
  const agents = useQuery(
    (signal) => api.get('/api/agents', agentListResponseSchema, { signal }),
    [],
  );
  useEvents(['chain'], () => chains.refresh());
  const [target, setTarget] = useState(DEFAULT_TARGET);
  const [newCamera, setNewCamera] = useState('');
  // Kept here: a save reloads the chains and the form starts afresh (keyed by updatedAt).
  const [note, setNote] = useState<string | null>(null);

  const stored = chains.data;
  const overrides = useMemo(() => Object.keys(stored?.cameras ?? {}).sort(), [stored]);
  const knownCameras = useMemo(
    () =>
      [...new Set((agents.data?.agents ?? []).map((a) => a.camera))]
        .filter((camera) => !overrides.includes(camera))
        .sort(),
    [agents.data, overrides],
  );
  const camera = target === DEFAULT_TARGET ? null : target;
  const storedChain: ChainConfig | undefined =
    stored === undefined
      ? undefined
      : camera === null
        ? stored.default
        : (stored.cameras[camera] ?? stored.default);
  const hasOverride = camera !== null && stored?.cameras[camera] !== undefined;

  return (
    <Panel title="Inspection chain" className="settings-section">
      <p className="muted">
        What runs after <code>detect</code> on each camera and which rule decides. Rules are tried
        in order; the first that matches fails the part and is stored as the result&apos;s “decided
        by”. With no rules the fail threshold decides.
      </p>
      <ErrorBanner error={chains.error} onRetry={chains.refresh} what="the inspection chain" />
      {stored === undefined || storedChain === undefined ? (
        chains.loading && <p className="loading">Loading…</p>
      ) : (
        <>
          <div className="chain-target">
            <Field label="Chain of" hint="the default applies to every camera without its own">
              {(props) => (
                <select
                  {...props}
                  value={target}
                  onChange={(e) => {
                    setTarget(e.target.value);
                    setNote(null);
                  }}
                >
                  <option value={DEFAULT_TARGET}>Default (all cameras)</option>
                  {overrides.map((name) => (
                    <option key={name} value={name}>
                      {name} (own chain)
                    </option>
                  ))}
                  {knownCameras.map((name) => (
                    <option key={name} value={name}>
                      {name} (uses the default)
                    </option>
                  ))}
                  {camera !== null &&
                    !overrides.includes(camera) &&
                    !knownCameras.includes(camera) && (
                      <option value={camera}>{camera} (new)</option>
                    )}
                </select>
              )}
            </Field>
            {canEdit && (
              <form
                className="chain-new-camera"
                aria-label="Override a camera"
                onSubmit={(event) => {
                  event.preventDefault();
                  const name = newCamera.trim();
                  if (name !== '') setTarget(name);
                  setNewCamera('');
                }}
              >
                <Field label="Other camera">
                  {(props) => (
                    <input
                      {...props}
                      value={newCamera}
                      placeholder="cam-7"
                      onChange={(e) => setNewCamera(e.target.value)}
                    />
                  )}
                </Field>
                <button type="submit">Edit its chain</button>
              </form>
            )}
          </div>
          <ChainForm
            key={`${target}|${stored.updatedAt ?? 0}`}
            camera={camera}
            chain={storedChain}
            hasOverride={hasOverride}
            canEdit={canEdit}
            updatedAt={stored.updatedAt}
            note={note}
            onEdited={() => setNote(null)}
            onSaved={(message) => {
              setNote(message);
              chains.refresh();
            }}
          />
        </>
      )}
    </Panel>
  );
}

function ChainForm({
  camera,
  chain,
  hasOverride,
  canEdit,
  updatedAt,
  note,
  onEdited,
  onSaved,
}: {
  camera: string | null;
  chain: ChainConfig;
  hasOverride: boolean;
  canEdit: boolean;
  updatedAt: number | null;
  /** What the last save said (the form is re-created after a save). */
  note: string | null;
  onEdited: () => void;
  onSaved: (message: string) => void;
}) {
  const [draft, setDraft] = useState<ChainDraft>(() => draftFromChain(chain));
  const [errors, setErrors] = useState<ChainErrors>({});
  const [checked, setChecked] = useState(false);
  const [saving, setSaving] = useState(false);
  const [addKind, setAddKind] = useState<RuleKind>('class');
  const formRef = useRef<HTMLFormElement>(null);

  useEffect(() => {
    if (checked) setErrors(checkChainDraft(draft).errors);
  }, [draft, checked]);

  const update = (change: (current: ChainDraft) => ChainDraft): void => {
    setDraft(change);
    onEdited();
  };
  const setStage = (kind: 'classify' | 'segment', patch: Partial<StageDraft>): void =>
    update((d) => ({ ...d, stages: { ...d.stages, [kind]: { ...d.stages[kind], ...patch } } }));
  const setRule = (index: number, patch: Partial<RuleDraft>): void =>
    update((d) => ({
      ...d,
      rules: d.rules.map((rule, i) => (i === index ? { ...rule, ...patch } : rule)),
    }));

  const send = async (body: UpdateInspectionChainRequest, done: string): Promise<void> => {
    setSaving(true);
    try {
      await api.put('/api/inspection-chain', body, inspectionChainsResponseSchema);
      setChecked(false);
      setErrors({});
      onSaved(`${done} at ${formatDateTime(Date.now())}.`);
    } catch (error) {
      const message = error instanceof ApiError ? error.message : errorMessage(error);
      const mapped = serverErrors(draft, message);
      const unplaced = mapped[''];
      setErrors({
        ...mapped,
        '': `The server refused the chain: ${unplaced ?? 'see the marked fields'} (${
          error instanceof ApiError ? error.code : 'error'
        })`,
      });
    } finally {
      setSaving(false);
    }
  };

  const submit = (event: FormEvent): void => {
    event.preventDefault();
    if (!canEdit || saving) return;
    setChecked(true);
    onEdited();
    const check = checkChainDraft(draft);
    setErrors(check.errors);
    if (!check.ok) {
      // After React has marked the fields: the first bad one takes the focus.
      requestAnimationFrame(() =>
        formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus(),
      );
      return;
    }
    void send(
      { camera, chain: check.chain },
      camera === null ? 'Default chain saved' : `Saved the chain of ${camera}`,
    );
  };

  const err = (key: string): string | undefined => errors[key];
  const title = camera === null ? 'the default chain' : `the chain of ${camera}`;

  return (
    <form
      ref={formRef}
      className="chain-form"
      noValidate
      aria-label="Inspection chain"
      onSubmit={submit}
    >
      {camera !== null && !hasOverride && (
        <p className="notice">
          {camera} uses the default chain now; saving gives it its own (starting from the default
          shown here).
        </p>
      )}
      <fieldset className="settings-fieldset-plain" disabled={!canEdit || saving}>
        <fieldset className="settings-group">
          <legend>Stages after detect</legend>
          {err('stages') !== undefined && (
            <p className="field-error" role="alert">
              <span aria-hidden="true">■ </span>
              {err('stages')}
            </p>
          )}
          {STAGE_KINDS.map((kind) => {
            const stage = draft.stages[kind];
            const name = kind === 'classify' ? 'Classify' : 'Segment';
            return (
              <div key={kind} className="chain-stage">
                <label className="chain-stage-toggle">
                  <input
                    type="checkbox"
                    checked={stage.enabled}
                    onChange={(e) => setStage(kind, { enabled: e.target.checked })}
                  />{' '}
                  {kind === 'classify' ? 'Classify each crop' : 'Segment each crop (mask, area)'}
                </label>
                {stage.enabled && (
                  <div className="settings-fields">
                    <Field label={`${name} alias`} error={err(`stages.${kind}.alias`)}>
                      {(props) => (
                        <input
                          {...props}
                          value={stage.alias}
                          onChange={(e) => setStage(kind, { alias: e.target.value })}
                        />
                      )}
                    </Field>
                    <Field
                      label={`${name} padding`}
                      hint="context around the box, share of its side"
                      error={err(`stages.${kind}.padding`)}
                    >
                      {(props) => (
                        <input
                          {...props}
                          type="number"
                          step="0.05"
                          value={stage.padding}
                          onChange={(e) => setStage(kind, { padding: e.target.value })}
                        />
                      )}
                    </Field>
                    <Field
                      label={`${name} min confidence`}
                      error={err(`stages.${kind}.minConfidence`)}
                    >
                      {(props) => (
                        <input
                          {...props}
                          type="number"
                          step="0.05"
                          value={stage.minConfidence}
                          onChange={(e) => setStage(kind, { minConfidence: e.target.value })}
                        />
                      )}
                    </Field>
                  </div>
                )}
              </div>
            );
          })}
        </fieldset>
        <fieldset className="settings-group">
          <legend>Crops and calibration</legend>
          <div className="settings-fields">
            <Field
              label="Veto class"
              hint="the classifier's “not a defect” class; empty: none"
              error={err('vetoClass')}
            >
              {(props) => (
                <input
                  {...props}
                  value={draft.vetoClass}
                  onChange={(e) => update((d) => ({ ...d, vetoClass: e.target.value }))}
                />
              )}
            </Field>
            <Field
              label="mm per pixel"
              hint="the camera's calibration; empty: uncalibrated (no mm²)"
              error={err('mmPerPixel')}
            >
              {(props) => (
                <input
                  {...props}
                  type="number"
                  step="any"
                  value={draft.mmPerPixel}
                  placeholder="uncalibrated"
                  onChange={(e) => update((d) => ({ ...d, mmPerPixel: e.target.value }))}
                />
              )}
            </Field>
            <Field
              label="Max crops per frame"
              hint="highest confidence first"
              error={err('maxCrops')}
            >
              {(props) => (
                <input
                  {...props}
                  type="number"
                  step="1"
                  value={draft.maxCrops}
                  onChange={(e) => update((d) => ({ ...d, maxCrops: e.target.value }))}
                />
              )}
            </Field>
          </div>
        </fieldset>
        <fieldset className="settings-group">
          <legend>Decision rules (in order)</legend>
          {err('rules') !== undefined && (
            <p className="field-error" role="alert">
              <span aria-hidden="true">■ </span>
              {err('rules')}
            </p>
          )}
          {draft.rules.length === 0 && (
            <p className="muted">No rules: the fail threshold decides (rule fail-threshold).</p>
          )}
          <ol className="chain-rules">
            {draft.rules.map((rule, index) => (
              <RuleEditor
                key={rule.key}
                rule={rule}
                index={index}
                count={draft.rules.length}
                errors={errors}
                onChange={(patch) => setRule(index, patch)}
                onMove={(delta) =>
                  update((d) => ({ ...d, rules: moveRule(d.rules, index, delta) }))
                }
                onRemove={() =>
                  update((d) => ({ ...d, rules: d.rules.filter((_, i) => i !== index) }))
                }
              />
            ))}
          </ol>
          <div className="chain-add-rule">
            <label>
              New rule{' '}
              <select value={addKind} onChange={(e) => setAddKind(e.target.value as RuleKind)}>
                {RULE_KINDS.map((kind) => (
                  <option key={kind} value={kind}>
                    {RULE_KIND_LABELS[kind]}
                  </option>
                ))}
              </select>
            </label>
            <button
              type="button"
              onClick={() =>
                update((d) => ({ ...d, rules: [...d.rules, newRule(addKind, d.rules)] }))
              }
            >
              Add rule
            </button>
          </div>
        </fieldset>
      </fieldset>
      {err('') !== undefined && (
        <div className="error-banner" role="alert">
          <span aria-hidden="true">■ </span>
          {err('')}
        </div>
      )}
      <div className="settings-actions">
        {canEdit ? (
          <>
            <button type="submit" className="button-primary" disabled={saving}>
              {saving ? 'Saving…' : `Save ${title}`}
            </button>
            <button
              type="button"
              className="button-quiet"
              disabled={saving}
              onClick={() => {
                setDraft(draftFromChain(chain));
                setErrors({});
                setChecked(false);
              }}
            >
              Undo changes
            </button>
            {camera !== null && hasOverride && (
              <button
                type="button"
                className="button-danger"
                disabled={saving}
                onClick={() =>
                  void send({ camera, chain: null }, `${camera} uses the default chain again`)
                }
              >
                Remove {camera}&apos;s own chain
              </button>
            )}
            <button
              type="button"
              className="button-quiet"
              disabled={saving}
              onClick={() => update(() => draftFromChain(DEFAULT_CHAIN))}
            >
              Start from detect alone
            </button>
          </>
        ) : (
          <span className="muted">Read-only: only admins change the chain.</span>
        )}
        <span role="status" className="settings-saved">
          {note ?? (updatedAt === null ? '' : `Stored ${formatDateTime(updatedAt)}`)}
        </span>
      </div>
    </form>
  );
}

function RuleEditor({
  rule,
  index,
  count,
  errors,
  onChange,
  onMove,
  onRemove,
}: {
  rule: RuleDraft;
  index: number;
  count: number;
  errors: ChainErrors;
  onChange: (patch: Partial<RuleDraft>) => void;
  onMove: (delta: -1 | 1) => void;
  onRemove: () => void;
}) {
  const n = index + 1;
  const err = (field: string): string | undefined => errors[`rules.${index}.${field}`];
  return (
    <li className="chain-rule" aria-label={`Rule ${n}`}>
      <div className="chain-rule-fields">
        <Field label={`Rule ${n} id`} error={err('id')}>
          {(props) => (
            <input {...props} value={rule.id} onChange={(e) => onChange({ id: e.target.value })} />
          )}
        </Field>
        <Field label={`Rule ${n} kind`} error={err('when')}>
          {(props) => (
            <select
              {...props}
              value={rule.when}
              onChange={(e) => onChange({ when: e.target.value as RuleKind })}
            >
              {RULE_KINDS.map((kind) => (
                <option key={kind} value={kind}>
                  {RULE_KIND_LABELS[kind]}
                </option>
              ))}
            </select>
          )}
        </Field>
        {rule.when === 'class' && (
          <Field label={`Rule ${n} classes`} hint="comma-separated" error={err('classes')}>
            {(props) => (
              <input
                {...props}
                value={rule.classes}
                placeholder="crack, dent"
                onChange={(e) => onChange({ classes: e.target.value })}
              />
            )}
          </Field>
        )}
        {(rule.when === 'class' || rule.when === 'any-defect') && (
          <Field label={`Rule ${n} min confidence`} error={err('minConfidence')}>
            {(props) => (
              <input
                {...props}
                type="number"
                step="0.05"
                value={rule.minConfidence}
                onChange={(e) => onChange({ minConfidence: e.target.value })}
              />
            )}
          </Field>
        )}
        {(rule.when === 'area-mm2' || rule.when === 'area-px') && (
          <Field
            label={`Rule ${n} area above (${rule.when === 'area-mm2' ? 'mm²' : 'px'})`}
            error={err('gt')}
          >
            {(props) => (
              <input
                {...props}
                type="number"
                step="any"
                value={rule.gt}
                onChange={(e) => onChange({ gt: e.target.value })}
              />
            )}
          </Field>
        )}
        {rule.when === 'severity' && (
          <Field
            label={`Rule ${n} severity at least`}
            hint="the classifier's class id"
            error={err('gte')}
          >
            {(props) => (
              <input
                {...props}
                type="number"
                step="1"
                value={rule.gte}
                onChange={(e) => onChange({ gte: e.target.value })}
              />
            )}
          </Field>
        )}
      </div>
      <div className="chain-rule-actions">
        <button
          type="button"
          aria-label={`Move rule ${n} up`}
          disabled={index === 0}
          onClick={() => onMove(-1)}
        >
          ↑
        </button>
        <button
          type="button"
          aria-label={`Move rule ${n} down`}
          disabled={index === count - 1}
          onClick={() => onMove(1)}
        >
          ↓
        </button>
        <button type="button" aria-label={`Remove rule ${n}`} onClick={onRemove}>
          Remove
        </button>
      </div>
    </li>
  );
}
