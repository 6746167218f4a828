/**
 * The inspection chains (docs/inspection-chain.md): the default chain and per-camera overrides,
 * kept as one JSON value in the settings table (key `inspection.chain`) and changed by
 * compare-and-set on its revision, so two servers changing chains at once cannot both win.
 *
 * A chain is accepted only when it can run: it passes `chainConfigSchema` and every stage alias
 * exists and points at a model of that stage's task. Every change publishes a `chain` event,
 * which re-resolves the agents' model plans. It never loads a model and never reads the
 * rollouts: the agent plan (agent-plan.service.ts) combines chains with rollouts.
 */
import { z } from 'zod';
import type { SettingsRepository } from '../repositories/settings.repository.js';
import {
  DEFAULT_CHAIN,
  chainConfigSchema,
  updateInspectionChainRequestSchema,
  type ChainConfig,
  type InspectionChainsResponse,
} from '../shared/api/inspection-chain.js';
import type { ModelTask } from '../shared/domain.js';
import { VisionLoopError } from '../shared/errors.js';
import type { EventBus } from './event-bus.js';

/** The settings-table key of the chains. */
export const INSPECTION_CHAIN_SETTINGS_KEY = 'inspection.chain';

/** What the chains need to know of a registry model (ModelRegistryService's ModelDetail fits). */
export interface StageModel {
  version: string;
  sha256: string;
  task: ModelTask;
}

/** The registry as the chains see it: where an alias points (ModelRegistryService fits). */
export interface StageModelLookup {
  resolveAlias(alias: string): Promise<StageModel | null>;
}

const storedChainsSchema = z.object({
  default: chainConfigSchema,
  cameras: z.record(z.string(), chainConfigSchema),
});
type StoredChains = z.infer<typeof storedChainsSchema>;

/** `path.to.field: message; …` of a zod error, the way the HTTP validation errors read. */
function describeZodIssues(context: string, error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      return `${context}${path === '' ? '' : `.${path}`}: ${issue.message}`;
    })
    .join('; ');
}

export interface InspectionChainOptions {
  now?: () => number;
}

export class InspectionChainService {
  private readonly now: () => number;

  constructor(
    private readonly settings: SettingsRepository,
    private readonly models: StageModelLookup,
    private readonly events: EventBus,
    options: InspectionChainOptions = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** The default chain and every camera override, with when they last changed. */
  async get(): Promise<InspectionChainsResponse> {
    const { chains, updatedAt } = await this.read();
    return { default: chains.default, cameras: chains.cameras, updatedAt };
  }

  /** The chain `camera` runs: its own override, else the default. */
  async chainFor(camera: string): Promise<ChainConfig> {
    const { chains } = await this.read();
    return chains.cameras[camera] ?? chains.default;
  }

  /**
   * Sets the default chain (`camera` null) or one camera's. `chain` null removes a camera's
   * override (NOT_FOUND when it has none), or resets the default to DEFAULT_CHAIN. Throws
   * CHAIN_INVALID for a chain that fails the schema or names an alias that does not exist,
   * MODEL_TASK_MISMATCH for an alias pointing at a model of another task.
   */
  async update(request: unknown, actor: string | null): Promise<InspectionChainsResponse> {
    const parsed = updateInspectionChainRequestSchema.safeParse(request);
    if (!parsed.success) {
      throw new VisionLoopError('CHAIN_INVALID', describeZodIssues('body', parsed.error));
    }
    const { camera, chain } = parsed.data;
    if (chain !== null) await this.checkStageModels(chain);
    for (let attempt = 0; attempt < 5; attempt++) {
      const now = this.now();
      const row = await this.settings.get(INSPECTION_CHAIN_SETTINGS_KEY);
      const current = row === undefined ? defaultChains() : this.decode(row.value);
      const next: StoredChains = { default: current.default, cameras: { ...current.cameras } };
      if (camera === null) {
        next.default = chain ?? DEFAULT_CHAIN;
      } else if (chain !== null) {
        next.cameras[camera] = chain;
      } else {
        if (!(camera in next.cameras)) {
          throw new VisionLoopError(
            'NOT_FOUND',
            `camera '${camera}' has no chain of its own; it runs the default chain`,
          );
        }
        delete next.cameras[camera];
      }
      const text = JSON.stringify(next);
      const won =
        row === undefined
          ? await this.settings.insertFirst(INSPECTION_CHAIN_SETTINGS_KEY, text, now, actor)
          : await this.settings.replaceIfRevision(
              INSPECTION_CHAIN_SETTINGS_KEY,
              row.revision,
              text,
              now,
              actor,
            );
      if (won) {
        this.events.publish({ type: 'chain', at: now, camera, actor });
        return { default: next.default, cameras: next.cameras, updatedAt: now };
      }
    }
    throw new VisionLoopError('CONFLICT', 'the inspection chains kept changing; try again');
  }

  /** Every stage alias must exist and serve that stage's task. */
  private async checkStageModels(chain: ChainConfig): Promise<void> {
    for (const [index, stage] of chain.stages.entries()) {
      const model = await this.models.resolveAlias(stage.alias);
      if (model === null) {
        throw new VisionLoopError(
          'CHAIN_INVALID',
          `chain.stages.${index}.alias: alias '${stage.alias}' does not exist; register a ${stage.stage} model and point '${stage.alias}' at it first`,
        );
      }
      if (model.task !== stage.stage) {
        throw new VisionLoopError(
          'MODEL_TASK_MISMATCH',
          `chain.stages.${index}.alias: alias '${stage.alias}' points at ${model.version}, a ${model.task} model; the ${stage.stage} stage needs a ${stage.stage} model`,
        );
      }
    }
  }

  private async read(): Promise<{ chains: StoredChains; updatedAt: number | null }> {
    const row = await this.settings.get(INSPECTION_CHAIN_SETTINGS_KEY);
    if (row === undefined) return { chains: defaultChains(), updatedAt: null };
    return { chains: this.decode(row.value), updatedAt: row.updated_at };
  }

  private decode(text: string): StoredChains {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = null;
    }
    const parsed = storedChainsSchema.safeParse(value);
    if (!parsed.success) {
      throw new VisionLoopError(
        'INTERNAL',
        `the stored '${INSPECTION_CHAIN_SETTINGS_KEY}' setting is invalid: ${describeZodIssues('value', parsed.error)}`,
      );
    }
    return parsed.data;
  }
}

function defaultChains(): StoredChains {
  return { default: DEFAULT_CHAIN, cameras: {} };
}
