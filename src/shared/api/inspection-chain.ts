/**
 * The inspection chain contract (docs/pipeline.md): which stages run after `detect` on a
 * camera, with which registry aliases, how a crop is cut, the camera's calibration, and the
 * decision rules — configuration, not code. Plus the model plan the server sends each agent:
 * every model it must run (canary-aware), its chain and its shadow. Browser-safe (zod only).
 *
 * Rules are evaluated in order; the first that matches fails the part and its id is stored as
 * the result's `decidedBy`. With no rules the default rule holds: FAIL when a detection's
 * confidence reaches the camera's `failThreshold` (id `fail-threshold`). Vetoed detections (the
 * classifier said `vetoClass`) count for no rule.
 */
import { z } from 'zod';
import { cameraNameSchema, epochMsSchema, idSchema, plainText } from './common.js';
import { aliasNameSchema, productionRefSchema } from './models.js';

/** The stages a model can serve (a registry model's `task`, Ultralytics' metadata `task`). */
export const modelTaskSchema = z.enum(['detect', 'classify', 'segment']);

/** The id `decidedBy` carries when the default rule (no chain rules) failed the part. */
export const DEFAULT_RULE_ID = 'fail-threshold';

/** The aliases stage models are served from unless a chain names others. */
export const DEFAULT_STAGE_ALIASES = {
  classify: 'classify-production',
  segment: 'segment-production',
} as const;

const ruleId = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,63}$/, 'lowercase letters, digits and - only, starting with a letter')
  .refine((value) => value !== DEFAULT_RULE_ID, `'${DEFAULT_RULE_ID}' is the default rule's id`);
const className = plainText(z.string().min(1).max(64));
const confidence = z.number().min(0).max(1);

export const decisionRuleSchema = z
  .discriminatedUnion('when', [
    /** FAIL when a detection of one of `classes` has confidence ≥ `minConfidence`. */
    z.strictObject({
      id: ruleId,
      when: z.literal('class'),
      classes: z.array(className).min(1).max(64),
      minConfidence: confidence,
    }),
    /** FAIL when any (non-vetoed) detection has confidence ≥ `minConfidence`. */
    z.strictObject({ id: ruleId, when: z.literal('any-defect'), minConfidence: confidence }),
    /** FAIL when the total segmented area exceeds `gt` mm² (needs `segment` and `mmPerPixel`). */
    z.strictObject({ id: ruleId, when: z.literal('area-mm2'), gt: z.number().min(0) }),
    /** FAIL when the total segmented area exceeds `gt` frame pixels (needs `segment`). */
    z.strictObject({ id: ruleId, when: z.literal('area-px'), gt: z.number().min(0) }),
    /** FAIL when the highest severity (classifier class id) is ≥ `gte` (needs `classify`). */
    z.strictObject({ id: ruleId, when: z.literal('severity'), gte: z.number().int().min(0) }),
  ])
  .meta({ id: 'DecisionRule' });
export type DecisionRule = z.infer<typeof decisionRuleSchema>;

export const chainStageSchema = z
  .strictObject({
    stage: z.enum(['classify', 'segment']),
    /** The registry alias whose model this stage runs. */
    alias: aliasNameSchema,
    /** Context added around a detection's box before cropping, as a fraction of its side. */
    padding: z.number().min(0).max(1),
    /** Only detections at or above this confidence are sent to the stage. */
    minConfidence: confidence,
  })
  .meta({ id: 'ChainStage' });
export type ChainStage = z.infer<typeof chainStageSchema>;

export const chainConfigSchema = z
  .strictObject({
    /** Stages after `detect`, in order; `classify` before `segment`, each at most once. */
    stages: z.array(chainStageSchema).max(2),
    /** The classifier class that vetoes a detection ("not a defect"); null: none. */
    vetoClass: className.nullable(),
    /** The camera's calibration: millimetres per pixel (square pixels); null: uncalibrated. */
    mmPerPixel: z.number().positive().max(1000).nullable(),
    /** Most crops per frame sent to the stages (highest confidence first). */
    maxCrops: z.number().int().min(1).max(64),
    rules: z.array(decisionRuleSchema).max(32),
  })
  .superRefine((chain, ctx) => {
    const kinds = chain.stages.map((s) => s.stage);
    if (new Set(kinds).size !== kinds.length) {
      ctx.addIssue({ code: 'custom', path: ['stages'], message: 'each stage at most once' });
    }
    if (kinds.indexOf('segment') !== -1 && kinds.indexOf('classify') > kinds.indexOf('segment')) {
      ctx.addIssue({ code: 'custom', path: ['stages'], message: 'classify runs before segment' });
    }
    const ids = chain.rules.map((r) => r.id);
    if (new Set(ids).size !== ids.length) {
      ctx.addIssue({ code: 'custom', path: ['rules'], message: 'rule ids must be unique' });
    }
    chain.rules.forEach((rule, index) => {
      const needs =
        rule.when === 'area-mm2' || rule.when === 'area-px'
          ? 'segment'
          : rule.when === 'severity'
            ? 'classify'
            : null;
      if (needs !== null && !kinds.includes(needs)) {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', index, 'when'],
          message: `'${rule.when}' needs a ${needs} stage`,
        });
      }
      if (rule.when === 'area-mm2' && chain.mmPerPixel === null) {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', index, 'when'],
          message: `'area-mm2' needs the camera's mmPerPixel calibration`,
        });
      }
    });
  })
  .meta({ id: 'ChainConfig' });
export type ChainConfig = z.infer<typeof chainConfigSchema>;

/** `detect` alone, the default rule: what every camera runs until configured otherwise. */
export const DEFAULT_CHAIN: ChainConfig = Object.freeze({
  stages: [],
  vetoClass: 'not_defect',
  mmPerPixel: null,
  maxCrops: 16,
  rules: [],
});

/** `GET /api/inspection-chain`: the default chain and the cameras that override it. */
export const inspectionChainsResponseSchema = z
  .strictObject({
    default: chainConfigSchema,
    cameras: z.record(cameraNameSchema, chainConfigSchema),
    updatedAt: epochMsSchema.nullable(),
  })
  .meta({ id: 'InspectionChains' });
export type InspectionChainsResponse = z.infer<typeof inspectionChainsResponseSchema>;

/**
 * `PUT /api/inspection-chain`: sets the default chain (`camera` null) or one camera's;
 * `chain` null removes a camera's override.
 */
export const updateInspectionChainRequestSchema = z
  .strictObject({
    camera: cameraNameSchema.nullable(),
    chain: chainConfigSchema.nullable(),
  })
  .meta({ id: 'UpdateInspectionChain' });
export type UpdateInspectionChainRequest = z.infer<typeof updateInspectionChainRequestSchema>;

/**
 * Everything an agent must run, resolved by the server for that agent's camera: the detector
 * (production, or a canary's candidate), the stage models its chain names, the chain itself and
 * a shadow. Sent as the `plan` event of `GET /api/agents/{id}/events` (on connect and on every
 * change) and in every heartbeat answer. A null model: nothing is in that alias yet (the agent
 * keeps what it runs; a stage without a model is skipped and the chain says so in the log).
 */
export const agentModelPlanSchema = z
  .strictObject({
    detect: productionRefSchema.nullable(),
    classify: productionRefSchema.nullable(),
    segment: productionRefSchema.nullable(),
    chain: chainConfigSchema,
    /** A model to run beside `detect` on `share` of the frames; its output never decides. */
    shadow: z
      .strictObject({
        model: productionRefSchema,
        share: z.number().min(0).max(1),
        rolloutId: idSchema,
      })
      .nullable(),
    /** The rollout this agent's camera takes part in, and its side. */
    rollout: z.strictObject({ id: idSchema, role: z.enum(['canary', 'baseline']) }).nullable(),
  })
  .meta({ id: 'AgentModelPlan' });
export type AgentModelPlan = z.infer<typeof agentModelPlanSchema>;
