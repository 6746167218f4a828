/**
 * The settings forms without React: which fields each section shows, how a form's text turns
 * into the update the API takes, and which problems keep it from being sent. Validation uses
 * the API's own zod schemas and cross-field rules (src/shared/api), so a form sends nothing the
 * server would refuse and shows each problem next to its field.
 *
 * Pure and browser-safe: no DOM, no fetch. test/integration/server/settings-forms.test.ts
 * proves the forms and the server agree on seeded random input.
 */
import type { z } from 'zod';
import {
  DEFAULT_AGENT_SETTINGS,
  agentSettingsSchema,
  updateAgentSettingsRequestSchema,
  type AgentSettings,
} from '../../../../src/shared/api/agents.js';
import {
  driftSettingsSchema,
  updateDriftSettingsRequestSchema,
  type DriftSettings,
} from '../../../../src/shared/api/drift.js';
import {
  labelingSettingsSchema,
  updateLabelingSettingsSchema,
  type LabelingSettings,
} from '../../../../src/shared/api/labeling.js';
import {
  retrainingSettingsSchema,
  updateRetrainingSettingsRequestSchema,
  type RetrainingSettings,
} from '../../../../src/shared/api/retraining.js';
import { DEFAULT_SAMPLING_SETTINGS } from '../../../../src/shared/api/sampling.js';
import {
  driftSettingsProblems,
  inspectionThresholdProblems,
  samplingSettingsFieldProblems,
  type SettingsProblem,
} from '../../../../src/shared/api/settings.js';

// ---------------------------------------------------------------------------------------------
// field descriptions

export type FieldKind =
  /** A number; `nullable` fields take an empty box as null ("off"). */
  | { type: 'number'; step?: number; nullable?: boolean }
  | { type: 'boolean' }
  | { type: 'choice'; options: readonly string[] }
  /** A list of names, one per comma. */
  | { type: 'list' };

export interface FieldSpec {
  /** Dotted path into the settings object (and into the update request). */
  path: string;
  label: string;
  /** One line under the field: what it does, its unit. */
  help?: string;
  kind: FieldKind;
}

/** A group of fields shown together (a fieldset with a legend). */
export interface FieldGroup {
  title: string;
  fields: readonly FieldSpec[];
}

/** What a form holds: text for numbers, lists and choices; a flag for switches. */
export type FormValue = string | boolean;
export type FormValues = Readonly<Record<string, FormValue>>;

/** Field path → the message to show beside it ('' for problems that belong to no field). */
export type FieldErrors = Readonly<Record<string, string>>;

export type SectionId = 'inspection' | 'sampling' | 'drift' | 'retraining' | 'labeling';

/** One settings section: its endpoint, its fields, and how it validates. */
export interface SectionSpec<TSettings extends object> {
  id: SectionId;
  title: string;
  /** GET and PUT path. */
  url: string;
  groups: readonly FieldGroup[];
  /** Fills what older servers leave out, so every field has a value to show. */
  normalize(settings: TSettings): TSettings;
  /** The whole settings object, as the server stores it. */
  fullSchema: z.ZodType<TSettings>;
  /** The PUT body. */
  updateSchema: z.ZodType;
  /** Rules between fields, run once every field parses. */
  crossProblems(candidate: TSettings): SettingsProblem[];
}

const num = (step?: number): FieldKind =>
  step === undefined ? { type: 'number' } : { type: 'number', step };
const flag: FieldKind = { type: 'boolean' };
const probability: FieldKind = { type: 'number', step: 0.01 };

// ---------------------------------------------------------------------------------------------
// the sections

/**
 * Keeps the fields the contract has: a field of a strategy the API lacks (an older or newer
 * server) would otherwise show empty and block Save.
 */
function inContract(groups: readonly FieldGroup[]): FieldGroup[] {
  return groups.map((group) => ({
    ...group,
    fields: group.fields.filter(
      (field) => getPath(DEFAULT_AGENT_SETTINGS, field.path) !== undefined,
    ),
  }));
}

/**
 * The inspection thresholds agents apply at their next heartbeat (part of the agent settings,
 * `PUT /api/settings/agent`, like the sampling section, which sends its own fields only).
 */
export const INSPECTION_SECTION: SectionSpec<AgentSettings> = {
  id: 'inspection',
  title: 'Inspection thresholds',
  url: '/api/settings/agent',
  groups: [
    {
      title: 'Decision',
      fields: [
        {
          path: 'failThreshold',
          label: 'Fail threshold',
          help: 'A part FAILs when a detection’s confidence is at or above this (0.01..1)',
          kind: probability,
        },
        {
          path: 'detectionConfidence',
          label: 'Detection confidence',
          help: 'Boxes below this confidence are dropped (0.01..0.99, at most the fail threshold)',
          kind: probability,
        },
      ],
    },
  ],
  normalize: (settings) => ({
    ...settings,
    failThreshold: settings.failThreshold ?? DEFAULT_AGENT_SETTINGS.failThreshold,
    detectionConfidence: settings.detectionConfidence ?? DEFAULT_AGENT_SETTINGS.detectionConfidence,
  }),
  fullSchema: agentSettingsSchema,
  updateSchema: updateAgentSettingsRequestSchema,
  crossProblems: (candidate) => inspectionThresholdProblems(candidate),
};

export const SAMPLING_SECTION: SectionSpec<AgentSettings> = {
  id: 'sampling',
  title: 'Uncertainty band and sampling',
  url: '/api/settings/agent',
  groups: inContract([
    {
      title: 'Uncertainty band',
      fields: [
        {
          path: 'sampling.strategies.uncertainty.low',
          label: 'Band low',
          help: 'Frames with a detection at low < confidence < high are sampled for labeling (0..1)',
          kind: probability,
        },
        {
          path: 'sampling.strategies.uncertainty.high',
          label: 'Band high',
          help: 'Must be above the band’s low (0..1)',
          kind: probability,
        },
        {
          path: 'sampling.strategies.uncertainty.enabled',
          label: 'Sample uncertain frames',
          kind: flag,
        },
        {
          path: 'sampling.strategies.uncertainty.keepProbability',
          label: 'Uncertain keep probability',
          help: 'Chance an uncertain frame is sent for labeling (0..1)',
          kind: probability,
        },
      ],
    },
    {
      title: 'Sampling strategies',
      fields: [
        {
          path: 'sampling.enabled',
          label: 'Sampling on',
          help: 'Off: no frame is sent for labeling',
          kind: flag,
        },
        { path: 'sampling.strategies.classFilter.enabled', label: 'Class filter on', kind: flag },
        {
          path: 'sampling.strategies.classFilter.classes',
          label: 'Class filter classes',
          help: 'Comma-separated class names',
          kind: { type: 'list' },
        },
        {
          path: 'sampling.strategies.classFilter.minConfidence',
          label: 'Class filter min confidence',
          kind: probability,
        },
        {
          path: 'sampling.strategies.classFilter.keepProbability',
          label: 'Class filter keep probability',
          kind: probability,
        },
        {
          path: 'sampling.strategies.detectionCount.enabled',
          label: 'Detection count on',
          kind: flag,
        },
        {
          path: 'sampling.strategies.detectionCount.moreThan',
          label: 'More than N detections',
          help: 'Empty: off',
          kind: { type: 'number', step: 1, nullable: true },
        },
        {
          path: 'sampling.strategies.detectionCount.fewerThan',
          label: 'Fewer than N detections',
          help: 'Empty: off',
          kind: { type: 'number', step: 1, nullable: true },
        },
        {
          path: 'sampling.strategies.detectionCount.minConfidence',
          label: 'Detection count min confidence',
          kind: probability,
        },
        {
          path: 'sampling.strategies.detectionCount.keepProbability',
          label: 'Detection count keep probability',
          kind: probability,
        },
        { path: 'sampling.strategies.random.enabled', label: 'Random sampling on', kind: flag },
        {
          path: 'sampling.strategies.random.keepProbability',
          label: 'Random keep probability',
          kind: { type: 'number', step: 0.001 },
        },
        { path: 'sampling.strategies.drift.enabled', label: 'Drift sampling on', kind: flag },
        {
          path: 'sampling.strategies.drift.keepProbability',
          label: 'Drift keep probability',
          help: 'While drift is reported, any frame is kept with this chance',
          kind: probability,
        },
        {
          path: 'sampling.strategies.drift.boost',
          label: 'Drift boost',
          help: 'While drift is reported, other strategies’ chances are multiplied by this (1..100)',
          kind: num(0.5),
        },
        { path: 'sampling.strategies.novelty.enabled', label: 'Novelty sampling on', kind: flag },
        {
          path: 'sampling.strategies.novelty.minNovelty',
          label: 'Min novelty',
          help: 'While drift is reported, frames at least this new are kept (0..1)',
          kind: probability,
        },
        {
          path: 'sampling.strategies.novelty.memory',
          label: 'Novelty memory',
          help: 'Latest samples a frame is compared with (1..1000)',
          kind: num(1),
        },
      ],
    },
    {
      title: 'Caps and near-duplicates',
      fields: [
        {
          path: 'sampling.caps.perMinute',
          label: 'Cap per minute',
          help: 'Per agent; 0 samples none',
          kind: num(1),
        },
        { path: 'sampling.caps.perHour', label: 'Cap per hour', kind: num(1) },
        { path: 'sampling.caps.perDay', label: 'Cap per day', kind: num(1) },
        { path: 'sampling.dedupe.enabled', label: 'Suppress near-duplicates', kind: flag },
        {
          path: 'sampling.dedupe.maxDistance',
          label: 'Near-duplicate distance',
          help: 'dHash bits (0..64)',
          kind: num(1),
        },
        {
          path: 'sampling.dedupe.matchDetections',
          label: 'Near-duplicates need the same defects',
          kind: flag,
        },
        {
          path: 'sampling.dedupe.windowMs',
          label: 'Suppression window',
          help: 'Milliseconds',
          kind: num(1000),
        },
        { path: 'sampling.dedupe.maxRecent', label: 'Recent samples remembered', kind: num(1) },
      ],
    },
    {
      title: 'Frame upload',
      fields: [
        {
          path: 'uploadFrames',
          label: 'Upload frames',
          help: 'Which frames’ JPEGs agents upload for inspection (sampled frames always are)',
          kind: { type: 'choice', options: ['none', 'uncertain', 'all'] },
        },
        { path: 'jpegQuality', label: 'JPEG quality', help: '30..100', kind: num(1) },
      ],
    },
  ]),
  normalize: (settings) => ({
    ...settings,
    sampling: settings.sampling ?? DEFAULT_SAMPLING_SETTINGS,
  }),
  fullSchema: agentSettingsSchema,
  updateSchema: updateAgentSettingsRequestSchema,
  crossProblems: (candidate) =>
    samplingSettingsFieldProblems(candidate.sampling ?? DEFAULT_SAMPLING_SETTINGS).map((p) => ({
      path: `sampling.${p.path}`,
      message: p.message,
    })),
};

/** How a flat settings section presents a field of its schema; unnamed fields get defaults. */
interface FieldLook {
  label: string;
  help?: string;
  step?: number;
}

/**
 * The fields of a flat settings schema (one level, `revision` left out), in `groups`; a field
 * the schema gained since this page was written lands in a last "More" group with a label made
 * from its name, and a named field the schema lost is left out, so the form always matches the
 * API it talks to. Kinds come from the schema: numbers, switches, choices.
 */
function groupsFromSchema(
  shape: Readonly<Record<string, z.ZodType>>,
  groups: readonly { title: string; keys: readonly string[] }[],
  looks: Readonly<Record<string, FieldLook>>,
): FieldGroup[] {
  const fieldOf = (key: string): FieldSpec | null => {
    const schema = shape[key];
    if (schema === undefined) return null;
    const look = looks[key] ?? { label: humanize(key) };
    const def = schema.def as { type: string; entries?: Record<string, string> };
    let kind: FieldKind;
    if (def.type === 'boolean') kind = flag;
    else if (def.type === 'enum')
      kind = { type: 'choice', options: Object.values(def.entries ?? {}) };
    else if (def.type === 'number') {
      const isInt = (schema as z.ZodNumber).isInt === true;
      kind = { type: 'number', step: look.step ?? (isInt ? 1 : 0.01) };
    } else return null;
    return {
      path: key,
      label: look.label,
      ...(look.help === undefined ? {} : { help: look.help }),
      kind,
    };
  };
  const placed = new Set<string>(['revision']);
  const result: FieldGroup[] = [];
  for (const group of groups) {
    const fields = group.keys.flatMap((key) => {
      placed.add(key);
      const field = fieldOf(key);
      return field === null ? [] : [field];
    });
    if (fields.length > 0) result.push({ title: group.title, fields });
  }
  const more = Object.keys(shape)
    .filter((key) => !placed.has(key))
    .flatMap((key) => {
      const field = fieldOf(key);
      return field === null ? [] : [field];
    });
  if (more.length > 0) result.push({ title: 'More', fields: more });
  return result;
}

/** `driftShareThreshold` → `Drift share threshold`. */
function humanize(key: string): string {
  const words = key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export const DRIFT_SECTION: SectionSpec<DriftSettings> = {
  id: 'drift',
  title: 'Drift monitor',
  url: '/api/settings/drift',
  groups: groupsFromSchema(
    driftSettingsSchema.shape,
    [
      {
        title: 'Thresholds',
        keys: [
          'driftShareThreshold',
          'redShareThreshold',
          'alpha',
          'correction',
          'includeModelOutputs',
        ],
      },
      {
        title: 'Windows and schedule',
        keys: [
          'checkEverySeconds',
          'windowSamples',
          'windowSpanSeconds',
          'minSpacingSeconds',
          'baselineSamples',
          'minSamples',
        ],
      },
    ],
    {
      driftShareThreshold: {
        label: 'Drift share threshold (yellow)',
        help: 'Yellow when the share of drifted features is above this (0 ≤ x < 1)',
      },
      redShareThreshold: {
        label: 'Red share threshold',
        help: 'Red above this; at least the yellow threshold (0 ≤ x < 1)',
      },
      alpha: {
        label: 'Significance level (alpha)',
        help: 'A feature drifts when its p-value is below this (0 < x ≤ 0.5)',
      },
      correction: { label: 'Multiple-test correction' },
      includeModelOutputs: { label: 'Also compare model outputs' },
      checkEverySeconds: { label: 'Check every', help: 'Seconds (5..86400)' },
      windowSamples: { label: 'Window samples', help: 'Frames in a current window' },
      windowSpanSeconds: { label: 'Window span', help: 'Seconds (60..604800)' },
      minSpacingSeconds: {
        label: 'Min spacing',
        help: 'At most one frame per this many seconds',
        step: 1,
      },
      baselineSamples: { label: 'Baseline samples' },
      minSamples: {
        label: 'Min samples per feature',
        help: 'At most the window and baseline samples',
      },
    },
  ),
  normalize: (settings) => settings,
  fullSchema: driftSettingsSchema,
  updateSchema: updateDriftSettingsRequestSchema,
  crossProblems: (candidate) => {
    const { revision: _revision, ...values } = candidate;
    return driftSettingsProblems(values);
  },
};

export const RETRAINING_SECTION: SectionSpec<RetrainingSettings> = {
  id: 'retraining',
  title: 'Retraining policy',
  url: '/api/settings/retraining',
  groups: groupsFromSchema(
    retrainingSettingsSchema.shape,
    [
      {
        title: 'When to retrain',
        keys: [
          'enabled',
          'labelThreshold',
          'retrainOnDrift',
          'driftMinNewLabels',
          'cooldownMinutes',
          'evaluateEverySeconds',
        ],
      },
      {
        title: 'Promotion gate',
        keys: ['autoPromote', 'maxNominalLoss', 'minRecentGain', 'nominalHoldoutImages'],
      },
      {
        title: 'Trainer',
        keys: [
          'replayRatio',
          'replayFraction',
          'epochs',
          'imgsz',
          'batch',
          'lr',
          'freezeBackbone',
          'modelSize',
          'seed',
          'threads',
          'nice',
        ],
      },
    ],
    {
      enabled: { label: 'Automatic retraining' },
      labelThreshold: {
        label: 'New labels threshold',
        help: 'Retrain when at least this many unused reviewed labels exist',
      },
      retrainOnDrift: { label: 'Retrain on drift' },
      driftMinNewLabels: { label: 'Labels needed on drift' },
      cooldownMinutes: { label: 'Cooldown', help: 'Minutes after the last training', step: 1 },
      evaluateEverySeconds: { label: 'Evaluate policy every', help: 'Seconds' },
      autoPromote: { label: 'Promote automatically' },
      maxNominalLoss: { label: 'Max nominal mAP loss', help: '0.02 = 2 points (0..1)' },
      minRecentGain: {
        label: 'Min recent mAP gain',
        help: 'The candidate must beat production by more than this (0..1)',
      },
      nominalHoldoutImages: { label: 'Nominal holdout images' },
      replayRatio: { label: 'Replay ratio', help: 'Earlier images per new reviewed image' },
      replayFraction: { label: 'Replay fraction', help: '0..1' },
      imgsz: { label: 'Image size', help: 'A multiple of 32', step: 32 },
      batch: { label: 'Batch size' },
      lr: { label: 'Learning rate', step: 0.0001 },
      freezeBackbone: { label: 'Freeze the backbone' },
      threads: { label: 'Trainer threads', help: 'PyTorch threads (0: automatic)' },
      nice: { label: 'Trainer niceness', help: '0..19; higher yields more CPU to inspection' },
    },
  ),
  normalize: (settings) => settings,
  fullSchema: retrainingSettingsSchema,
  updateSchema: updateRetrainingSettingsRequestSchema,
  crossProblems: () => [],
};

export const LABELING_SECTION: SectionSpec<LabelingSettings> = {
  id: 'labeling',
  title: 'Labeling',
  url: '/api/settings/labeling',
  groups: groupsFromSchema(
    labelingSettingsSchema.shape,
    [{ title: 'Review', keys: ['requireApproval', 'leaseSeconds'] }],
    {
      requireApproval: {
        label: 'Labels need a second review',
        help: 'Labels submitted by admins are approved at once',
      },
      leaseSeconds: { label: 'Claim lease', help: 'Seconds' },
    },
  ),
  normalize: (settings) => settings,
  fullSchema: labelingSettingsSchema,
  updateSchema: updateLabelingSettingsSchema,
  crossProblems: () => [],
};

// ---------------------------------------------------------------------------------------------
// paths

/** The value at a dotted `path` of `value` (undefined when a step is missing). */
export function getPath(value: unknown, path: string): unknown {
  let at: unknown = value;
  for (const key of path.split('.')) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

/** A copy of `target` with `value` at `path`, creating objects on the way. */
function withPath(
  target: Record<string, unknown>,
  path: string,
  value: unknown,
): Record<string, unknown> {
  const [key, ...rest] = path.split('.');
  if (key === undefined) return target;
  if (rest.length === 0) return { ...target, [key]: value };
  const child = target[key];
  const childObject =
    typeof child === 'object' && child !== null && !Array.isArray(child)
      ? (child as Record<string, unknown>)
      : {};
  return { ...target, [key]: withPath(childObject, rest.join('.'), value) };
}

export function fieldsOf(section: SectionSpec<object>): FieldSpec[] {
  return section.groups.flatMap((group) => group.fields);
}

// ---------------------------------------------------------------------------------------------
// form ⇄ values

function formatValue(kind: FieldKind, value: unknown): FormValue {
  switch (kind.type) {
    case 'boolean':
      return value === true;
    case 'list':
      return Array.isArray(value) ? value.join(', ') : '';
    case 'number':
      return typeof value === 'number' ? String(value) : '';
    case 'choice':
      return typeof value === 'string' ? value : '';
  }
}

/** The form's starting values: the stored settings. */
export function formValuesOf<T extends object>(section: SectionSpec<T>, settings: T): FormValues {
  const values: Record<string, FormValue> = {};
  const normalized = section.normalize(settings);
  for (const field of fieldsOf(section)) {
    values[field.path] = formatValue(field.kind, getPath(normalized, field.path));
  }
  return values;
}

/** Reads one field's text: the value, or why it is not one. */
function parseField(
  field: FieldSpec,
  raw: FormValue | undefined,
): { value: unknown } | { error: string } {
  const kind = field.kind;
  switch (kind.type) {
    case 'boolean':
      return { value: raw === true };
    case 'choice':
      return { value: typeof raw === 'string' ? raw : '' };
    case 'list': {
      const text = typeof raw === 'string' ? raw : '';
      return {
        value: text
          .split(',')
          .map((item) => item.trim())
          .filter((item) => item.length > 0),
      };
    }
    case 'number': {
      const text = typeof raw === 'string' ? raw.trim() : '';
      if (text === '')
        return kind.nullable === true ? { value: null } : { error: 'Enter a number' };
      // Number('') and Number(' ') are 0, and Number('0x10') is 16: accept plain decimals only.
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return { error: 'Enter a number' };
      return { value: Number(text) };
    }
  }
}

/** A person's wording of a zod issue on one number, choice or list field. */
export function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'too_small':
      return issue.origin === 'array'
        ? `List at least ${String(issue.minimum)}`
        : `Must be ${issue.inclusive === false ? '>' : '≥'} ${String(issue.minimum)}`;
    case 'too_big':
      return issue.origin === 'array'
        ? `List at most ${String(issue.maximum)}`
        : `Must be ${issue.inclusive === false ? '<' : '≤'} ${String(issue.maximum)}`;
    case 'invalid_type':
      return issue.expected === 'int' ? 'Must be a whole number' : `Must be a ${issue.expected}`;
    case 'invalid_value':
      return `Choose one of ${issue.values.map(String).join(', ')}`;
    case 'not_multiple_of':
      return `Must be a multiple of ${String(issue.divisor)}`;
    case 'custom':
    case 'invalid_element':
    case 'invalid_format':
    case 'invalid_key':
    case 'invalid_union':
    case 'unrecognized_keys':
      return issue.message;
  }
}

export interface SectionCheck {
  /** Problems by field path ('' for ones that belong to no field of the form). */
  errors: FieldErrors;
  /** The PUT body with the changed fields; null while there are errors. */
  body: Record<string, unknown> | null;
  /** Whether anything differs from the stored settings. */
  changed: boolean;
  /**
   * The changed fields as typed, errors and all (text that is no number stays text): what a
   * form without these checks would send. Tests send it to prove the server refuses it too.
   */
  draft: Record<string, unknown>;
}

/**
 * Checks a section's form against the stored `current` settings exactly as the server will:
 * each field parses, the whole settings object (stored values with the form's applied) passes
 * the API's schema and its cross-field rules, and the body of changed fields passes the update
 * schema. Only a check without errors yields a body.
 */
export function checkSection<T extends object>(
  section: SectionSpec<T>,
  current: T,
  values: FormValues,
): SectionCheck {
  const errors: Record<string, string> = {};
  const fields = fieldsOf(section);
  const stored = section.normalize(current);
  let candidate = stored as Record<string, unknown>;
  let body: Record<string, unknown> = {};
  let draft: Record<string, unknown> = {};
  let changed = false;
  for (const field of fields) {
    const raw = values[field.path];
    const parsed = parseField(field, raw);
    if ('error' in parsed) {
      errors[field.path] = parsed.error;
      draft = withPath(draft, field.path, raw);
      changed = true;
      continue;
    }
    candidate = withPath(candidate, field.path, parsed.value);
    if (JSON.stringify(parsed.value) !== JSON.stringify(getPath(stored, field.path))) {
      body = withPath(body, field.path, parsed.value);
      draft = withPath(draft, field.path, parsed.value);
      changed = true;
    }
  }
  const known = new Set(fields.map((field) => field.path));
  const note = (path: string, message: string): void => {
    const key = known.has(path) ? path : '';
    if (errors[key] === undefined)
      errors[key] = key === '' && path !== '' ? `${path}: ${message}` : message;
  };
  const full = section.fullSchema.safeParse(candidate);
  if (!full.success) {
    for (const issue of full.error.issues) {
      const path = issue.path.map(String).join('.');
      // A refinement of a whole object (the sampling band's low < high): crossProblems
      // reports it below, at its field. A field's own refinement (imgsz % 32) stays here.
      if (issue.code === 'custom' && !known.has(path)) continue;
      note(path, describeIssue(issue));
    }
  }
  if (Object.keys(errors).length === 0) {
    for (const problem of section.crossProblems(candidate as T))
      note(problem.path, problem.message);
  }
  if (Object.keys(errors).length === 0) {
    const update = section.updateSchema.safeParse(body);
    if (!update.success) {
      for (const issue of update.error.issues)
        note(issue.path.map(String).join('.'), describeIssue(issue));
    }
  }
  return { errors, body: Object.keys(errors).length === 0 ? body : null, changed, draft };
}
