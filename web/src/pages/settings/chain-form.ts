/**
 * The inspection chain editor's model (Settings → Inspection chain): a chain as form text
 * (`ChainDraft`), back to a `ChainConfig` checked with the API's own `chainConfigSchema`, each
 * problem keyed by the field it concerns (`stages.segment.alias`, `rules.1.gt`, `mmPerPixel`),
 * the server's refusals mapped to the same keys, and the rule list's edits (add, remove, move).
 * Import-free apart from the shared contract, so it runs under Node in test/web.
 *
 * Never sends anything itself: the panel (ChainPanel.tsx) does, with `checkChainDraft`'s body.
 */
import {
  DEFAULT_STAGE_ALIASES,
  chainConfigSchema,
} from '../../../../src/shared/api/inspection-chain.js';
import type { ChainConfig, DecisionRule } from '../../../../src/shared/api/inspection-chain.js';

export type StageKind = 'classify' | 'segment';
export const STAGE_KINDS: readonly StageKind[] = ['classify', 'segment'];
export type RuleKind = DecisionRule['when'];
export const RULE_KINDS: readonly RuleKind[] = [
  'class',
  'any-defect',
  'area-mm2',
  'area-px',
  'severity',
];

/** What each rule kind means, for the kind's select and the docs. */
export const RULE_KIND_LABELS: Record<RuleKind, string> = {
  class: 'FAIL on a class',
  'any-defect': 'FAIL on any defect',
  'area-mm2': 'FAIL when area > mm²',
  'area-px': 'FAIL when area > px',
  severity: 'FAIL when severity ≥',
};

export interface StageDraft {
  enabled: boolean;
  alias: string;
  padding: string;
  minConfidence: string;
}

export interface RuleDraft {
  /** A stable React key (not sent). */
  key: string;
  id: string;
  when: RuleKind;
  /** `class` rules: class names, comma-separated. */
  classes: string;
  /** `class` and `any-defect`. */
  minConfidence: string;
  /** `area-mm2` and `area-px`. */
  gt: string;
  /** `severity`. */
  gte: string;
}

export interface ChainDraft {
  stages: Record<StageKind, StageDraft>;
  vetoClass: string;
  mmPerPixel: string;
  maxCrops: string;
  rules: RuleDraft[];
}

/** Problems by field key; `''` holds what no field owns. */
export type ChainErrors = Record<string, string>;

let nextKey = 0;
function ruleKey(): string {
  nextKey += 1;
  return `rule-${nextKey}`;
}

function text(value: number | null | undefined): string {
  return value === null || value === undefined ? '' : String(value);
}

const STAGE_DEFAULTS = { padding: 0.1, minConfidence: 0.25 } as const;

export function draftFromChain(chain: ChainConfig): ChainDraft {
  const stage = (kind: StageKind): StageDraft => {
    const found = chain.stages.find((s) => s.stage === kind);
    return {
      enabled: found !== undefined,
      alias: found?.alias ?? DEFAULT_STAGE_ALIASES[kind],
      padding: text(found?.padding ?? STAGE_DEFAULTS.padding),
      minConfidence: text(found?.minConfidence ?? STAGE_DEFAULTS.minConfidence),
    };
  };
  return {
    stages: { classify: stage('classify'), segment: stage('segment') },
    vetoClass: chain.vetoClass ?? '',
    mmPerPixel: text(chain.mmPerPixel),
    maxCrops: text(chain.maxCrops),
    rules: chain.rules.map((rule) => ({
      key: ruleKey(),
      id: rule.id,
      when: rule.when,
      classes: rule.when === 'class' ? rule.classes.join(', ') : '',
      minConfidence:
        rule.when === 'class' || rule.when === 'any-defect' ? text(rule.minConfidence) : '0.5',
      gt: rule.when === 'area-mm2' || rule.when === 'area-px' ? text(rule.gt) : '',
      gte: rule.when === 'severity' ? text(rule.gte) : '',
    })),
  };
}

/** A new rule of `when` with an id not used yet (`rule-1`, `rule-2`, …). */
export function newRule(when: RuleKind, existing: readonly RuleDraft[]): RuleDraft {
  const ids = new Set(existing.map((rule) => rule.id));
  let n = existing.length + 1;
  while (ids.has(`rule-${n}`)) n += 1;
  return {
    key: ruleKey(),
    id: `rule-${n}`,
    when,
    classes: '',
    minConfidence: '0.5',
    gt: '',
    gte: '',
  };
}

/** `rules` with the rule at `index` moved by `delta` (−1 up, +1 down); unchanged at the ends. */
export function moveRule<T>(rules: readonly T[], index: number, delta: -1 | 1): T[] {
  const target = index + delta;
  const next = [...rules];
  if (index < 0 || index >= rules.length || target < 0 || target >= rules.length) return next;
  const [moved] = next.splice(index, 1);
  if (moved !== undefined) next.splice(target, 0, moved);
  return next;
}

/** A number field's value: the number, or NaN when it is not one (the schema then refuses it). */
function numberOf(value: string): number {
  const trimmed = value.trim();
  return trimmed === '' ? Number.NaN : Number(trimmed);
}

function ruleBody(rule: RuleDraft): Record<string, unknown> {
  const id = rule.id.trim();
  switch (rule.when) {
    case 'class':
      return {
        id,
        when: rule.when,
        classes: rule.classes
          .split(',')
          .map((name) => name.trim())
          .filter((name) => name !== ''),
        minConfidence: numberOf(rule.minConfidence),
      };
    case 'any-defect':
      return { id, when: rule.when, minConfidence: numberOf(rule.minConfidence) };
    case 'area-mm2':
    case 'area-px':
      return { id, when: rule.when, gt: numberOf(rule.gt) };
    case 'severity':
      return { id, when: rule.when, gte: numberOf(rule.gte) };
  }
}

/** The stage kinds of `draft` in the order they are sent (classify before segment). */
export function enabledStages(draft: ChainDraft): StageKind[] {
  return STAGE_KINDS.filter((kind) => draft.stages[kind].enabled);
}

/** The request body's chain as the form says it (not yet checked). */
export function chainBodyOf(draft: ChainDraft): Record<string, unknown> {
  return {
    stages: enabledStages(draft).map((kind) => {
      const stage = draft.stages[kind];
      return {
        stage: kind,
        alias: stage.alias.trim(),
        padding: numberOf(stage.padding),
        minConfidence: numberOf(stage.minConfidence),
      };
    }),
    vetoClass: draft.vetoClass.trim() === '' ? null : draft.vetoClass.trim(),
    mmPerPixel: draft.mmPerPixel.trim() === '' ? null : numberOf(draft.mmPerPixel),
    maxCrops: numberOf(draft.maxCrops),
    rules: draft.rules.map(ruleBody),
  };
}

/** The text a number field holds, for the "not a number" message. */
function fieldText(draft: ChainDraft, key: string): string | undefined {
  const parts = key.split('.');
  if (parts[0] === 'stages' && parts.length === 3) {
    const stage = draft.stages[parts[1] as StageKind] as unknown as Record<string, unknown>;
    const value = stage[parts[2] ?? ''];
    return typeof value === 'string' ? value : undefined;
  }
  if (parts[0] === 'rules' && parts.length === 3) {
    const rule = draft.rules[Number(parts[1])] as unknown as Record<string, unknown> | undefined;
    const value = rule?.[parts[2] ?? ''];
    return typeof value === 'string' ? value : undefined;
  }
  const value = (draft as unknown as Record<string, unknown>)[key];
  return typeof value === 'string' ? value : undefined;
}

const NUMBER_FIELDS = new Set(['padding', 'minConfidence', 'mmPerPixel', 'maxCrops', 'gt', 'gte']);

/**
 * The field key of a path in the chain body: `stages.<index>.x` becomes `stages.<kind>.x` (the
 * form shows stages by kind), rule paths stay by index; `stages`/`rules` alone stay as they are.
 */
export function fieldKeyOf(draft: ChainDraft, path: readonly PropertyKey[]): string {
  const parts = path.map(String);
  if (parts[0] === 'stages' && parts.length >= 2) {
    const kind = enabledStages(draft)[Number(parts[1])];
    if (kind === undefined) return 'stages';
    return parts.length >= 3 ? `stages.${kind}.${parts[2]}` : `stages.${kind}.alias`;
  }
  if (parts[0] === 'rules' && parts.length >= 2) {
    return parts.length >= 3 ? `rules.${parts[1]}.${parts[2]}` : `rules.${parts[1]}.id`;
  }
  return parts.join('.');
}

export type ChainCheck =
  | { ok: true; chain: ChainConfig; errors: ChainErrors }
  | { ok: false; chain: null; errors: ChainErrors };

/** The draft checked with the API's chainConfigSchema: the chain to send, or the problems. */
export function checkChainDraft(draft: ChainDraft): ChainCheck {
  const parsed = chainConfigSchema.safeParse(chainBodyOf(draft));
  if (parsed.success) return { ok: true, chain: parsed.data, errors: {} };
  const errors: ChainErrors = {};
  for (const issue of parsed.error.issues) {
    const key = fieldKeyOf(draft, issue.path);
    const last = key.split('.').at(-1) ?? '';
    const value = fieldText(draft, key);
    const notANumber =
      NUMBER_FIELDS.has(last) &&
      value !== undefined &&
      (value.trim() === '' || !Number.isFinite(Number(value)));
    const message =
      notANumber && !(last === 'mmPerPixel' && value.trim() === '')
        ? 'Enter a number.'
        : issue.message;
    errors[key] ??= message;
  }
  return { ok: false, chain: null, errors };
}

const FIELD_MESSAGE =
  /^(?:body\.)?(?:chain\.)?((?:stages|rules|vetoClass|mmPerPixel|maxCrops|camera)(?:\.[A-Za-z0-9]+)*): ([\s\S]+)$/;

/**
 * A server refusal mapped to fields. Validation answers read
 * `body.chain.rules.0.gt: Too small…; body.camera: …`; CHAIN_INVALID answers name the path the
 * same way (with or without `body.chain.`), or nothing — then the whole message is unplaced.
 */
export function serverErrors(draft: ChainDraft, message: string): ChainErrors {
  const errors: ChainErrors = {};
  // Split at "; " only where a new path starts: a message itself may contain "; ".
  for (const part of message.split(
    /; (?=(?:body\.)?(?:chain\.)?(?:stages|rules|vetoClass|mmPerPixel|maxCrops|camera)[.:])/,
  )) {
    const match = FIELD_MESSAGE.exec(part.trim());
    if (match === null) {
      errors[''] = errors[''] === undefined ? part : `${errors['']}; ${part}`;
      continue;
    }
    const path = (match[1] ?? '').split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    const key = fieldKeyOf(draft, path);
    if (key === 'camera') {
      // The form has no camera field: the camera's name goes to the banner.
      errors[''] = errors[''] === undefined ? part : `${errors['']}; ${part}`;
      continue;
    }
    errors[key] ??= match[2] ?? '';
  }
  return errors;
}
