/**
 * The inspection chain editor's model (web/src/pages/settings/chain-form.ts) under Node: a
 * stored chain survives the round trip through the form unchanged, every problem the API's
 * chainConfigSchema finds lands on the field it concerns (stages by kind, rules by position),
 * a server refusal's message is mapped the same way, and rules move, add and stay unique.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CHAIN } from '../../src/shared/api/inspection-chain.js';
import type { ChainConfig } from '../../src/shared/api/inspection-chain.js';
import {
  chainBodyOf,
  checkChainDraft,
  draftFromChain,
  moveRule,
  newRule,
  serverErrors,
} from '../../web/src/pages/settings/chain-form.js';
import type { ChainDraft } from '../../web/src/pages/settings/chain-form.js';

const THREE_STAGE: ChainConfig = {
  stages: [
    { stage: 'classify', alias: 'classify-production', padding: 0.15, minConfidence: 0.3 },
    { stage: 'segment', alias: 'segment-canary', padding: 0.1, minConfidence: 0.25 },
  ],
  vetoClass: 'not_defect',
  mmPerPixel: 0.08,
  maxCrops: 12,
  rules: [
    { id: 'any-crack', when: 'class', classes: ['crack', 'dent'], minConfidence: 0.4 },
    { id: 'big-area', when: 'area-mm2', gt: 2.5 },
    { id: 'severe', when: 'severity', gte: 2 },
    { id: 'anything', when: 'any-defect', minConfidence: 0.9 },
    { id: 'many-px', when: 'area-px', gt: 900 },
  ],
};

function edit(draft: ChainDraft, change: (d: ChainDraft) => void): ChainDraft {
  const copy = structuredClone(draft);
  change(copy);
  return copy;
}

describe('chain form', () => {
  it('round-trips a three-stage chain and the default chain unchanged', () => {
    for (const chain of [THREE_STAGE, DEFAULT_CHAIN]) {
      const check = checkChainDraft(draftFromChain(chain));
      expect(check.ok).toBe(true);
      expect(check.chain).toEqual(chain);
    }
  });

  it('sends stages classify before segment whatever order they were enabled in', () => {
    const draft = edit(draftFromChain(DEFAULT_CHAIN), (d) => {
      d.stages.segment.enabled = true;
      d.stages.classify.enabled = true;
    });
    const body = chainBodyOf(draft) as { stages: { stage: string; alias: string }[] };
    expect(body.stages.map((s) => [s.stage, s.alias])).toEqual([
      ['classify', 'classify-production'],
      ['segment', 'segment-production'],
    ]);
  });

  it('puts each schema problem on its field', () => {
    const draft = edit(draftFromChain(THREE_STAGE), (d) => {
      d.stages.segment.padding = '1.5';
      d.stages.classify.minConfidence = 'high';
      d.maxCrops = '0';
      d.vetoClass = '';
      d.rules[1]!.gt = '-3';
      d.rules[0]!.classes = ' , ';
      d.rules[2]!.id = 'Bad Id';
    });
    const check = checkChainDraft(draft);
    expect(check.ok).toBe(false);
    expect(Object.keys(check.errors).sort()).toEqual([
      'maxCrops',
      'rules.0.classes',
      'rules.1.gt',
      'rules.2.id',
      'stages.classify.minConfidence',
      'stages.segment.padding',
    ]);
    expect(check.errors['stages.classify.minConfidence']).toBe('Enter a number.');
    expect(check.errors['rules.2.id']).toBe(
      'lowercase letters, digits and - only, starting with a letter',
    );
    expect(check.errors['rules.1.gt']).toMatch(/>=\s*0/);
  });

  it('names a rule whose stage is missing, and an area in mm² without calibration', () => {
    const draft = edit(draftFromChain(THREE_STAGE), (d) => {
      d.stages.segment.enabled = false;
      d.mmPerPixel = '';
    });
    const check = checkChainDraft(draft);
    expect(check.errors['rules.1.when']).toBe("'area-mm2' needs a segment stage");
    expect(check.errors['rules.4.when']).toBe("'area-px' needs a segment stage");
    // The first problem of a field wins; the calibration one is about the same rule.
    expect(check.errors.mmPerPixel).toBeUndefined();
    const calibrated = checkChainDraft(
      edit(draftFromChain(THREE_STAGE), (d) => {
        d.mmPerPixel = '';
      }),
    );
    expect(calibrated.errors).toEqual({
      'rules.1.when': "'area-mm2' needs the camera's mmPerPixel calibration",
    });
  });

  it('refuses duplicate rule ids and the default rule id at the list and the field', () => {
    const draft = edit(draftFromChain(THREE_STAGE), (d) => {
      d.rules[3]!.id = 'any-crack';
      d.rules[4]!.id = 'fail-threshold';
    });
    const check = checkChainDraft(draft);
    expect(check.errors.rules).toBe('rule ids must be unique');
    expect(check.errors['rules.4.id']).toBe("'fail-threshold' is the default rule's id");
  });

  it("maps the server's refusals to fields, by stage kind and rule position", () => {
    const draft = edit(draftFromChain(THREE_STAGE), (d) => {
      d.stages.classify.enabled = false;
    });
    const mapped = serverErrors(
      draft,
      "chain.stages.0.alias: alias 'segment-canary' does not exist; register a segment model and point 'segment-canary' at it first",
    );
    expect(mapped).toEqual({
      'stages.segment.alias':
        "alias 'segment-canary' does not exist; register a segment model and point 'segment-canary' at it first",
    });
    expect(
      serverErrors(
        draft,
        'body.chain.rules.2.gte: Too small: expected number to be >=0; body.camera: bad name',
      ),
    ).toEqual({
      'rules.2.gte': 'Too small: expected number to be >=0',
      '': 'body.camera: bad name',
    });
    expect(serverErrors(draft, 'the inspection chains kept changing; try again')).toEqual({
      '': 'the inspection chains kept changing; try again',
    });
  });

  it('moves, adds and removes rules keeping ids unique', () => {
    const rules = draftFromChain(THREE_STAGE).rules;
    expect(moveRule(rules, 2, -1).map((r) => r.id)).toEqual([
      'any-crack',
      'severe',
      'big-area',
      'anything',
      'many-px',
    ]);
    expect(moveRule(rules, 0, -1).map((r) => r.id)).toEqual(rules.map((r) => r.id));
    expect(moveRule(rules, 4, 1).map((r) => r.id)).toEqual(rules.map((r) => r.id));
    const first = newRule('area-px', []);
    const second = newRule('severity', [first, { ...first, id: 'rule-2' }]);
    expect([first.id, second.id]).toEqual(['rule-1', 'rule-3']);
    expect(new Set([first.key, second.key]).size).toBe(2);
    // A new rule without its threshold is refused at that field, not sent.
    const draft = edit(draftFromChain(THREE_STAGE), (d) => {
      d.rules.push(newRule('area-px', d.rules));
    });
    expect(checkChainDraft(draft).errors).toEqual({ 'rules.5.gt': 'Enter a number.' });
  });
});
