import { describe, expect, it } from 'vitest';
import { promotionGate, type HoldoutScore } from './retraining-gate.js';

function score(map50: number, images = 20): HoldoutScore {
  return { map50, map50_95: map50 / 2, images, objects: images * 2 };
}

const STAGING = { maxNominalLoss: 0.02, minRecentGain: 0, autoPromote: false };
const AUTO = { ...STAGING, autoPromote: true };

describe('promotionGate', () => {
  it('stages a candidate that is better on recent labels and within 2 points on nominal', () => {
    const result = promotionGate({
      candidate: { recent: score(0.61), nominal: score(0.795) },
      production: { version: 'seed-v1', recent: score(0.42), nominal: score(0.81) },
      settings: STAGING,
    });
    expect(result.decision).toBe('staging');
    expect(result.passed).toBe(true);
    expect(result.recentGain).toBeCloseTo(0.19, 10);
    expect(result.nominalLoss).toBeCloseTo(0.015, 10);
    expect(result.reasons[0]).toContain('+19.00 pts');
    expect(result.reasons[1]).toContain('loses 1.50 pts');
    expect(result.reasons.at(-1)).toContain('an admin promotes it to production');
  });

  it('promotes to production when autoPromote is on', () => {
    const result = promotionGate({
      candidate: { recent: score(0.5), nominal: score(0.8) },
      production: { version: 'v1', recent: score(0.4), nominal: score(0.8) },
      settings: AUTO,
    });
    expect(result.decision).toBe('production');
  });

  it('accepts a loss of exactly 2 points on nominal and rejects 2.1', () => {
    const base = { version: 'v1', recent: score(0.3), nominal: score(0.8) };
    expect(
      promotionGate({
        candidate: { recent: score(0.4), nominal: score(0.78) },
        production: base,
        settings: STAGING,
      }).decision,
    ).toBe('staging');
    const tooMuch = promotionGate({
      candidate: { recent: score(0.9), nominal: score(0.779) },
      production: base,
      settings: AUTO,
    });
    expect(tooMuch.decision).toBe('rejected');
    expect(tooMuch.reasons[1]).toContain('loses 2.10 pts');
    expect(tooMuch.reasons[1]).toContain('too much');
  });

  it('rejects a candidate that is only as good on the recent holdout (ties do not promote)', () => {
    const result = promotionGate({
      candidate: { recent: score(0.4), nominal: score(0.9) },
      production: { version: 'v1', recent: score(0.4), nominal: score(0.8) },
      settings: AUTO,
    });
    expect(result).toMatchObject({ decision: 'rejected', passed: false, recentGain: 0 });
    expect(result.reasons[0]).toContain('(not better)');
  });

  it('requires more than minRecentGain when one is set', () => {
    const settings = { ...STAGING, minRecentGain: 0.05 };
    const production = { version: 'v1', recent: score(0.4), nominal: score(0.8) };
    expect(
      promotionGate({
        candidate: { recent: score(0.44), nominal: score(0.8) },
        production,
        settings,
      }).decision,
    ).toBe('rejected');
    expect(
      promotionGate({
        candidate: { recent: score(0.46), nominal: score(0.8) },
        production,
        settings,
      }).decision,
    ).toBe('staging');
  });

  it('rejects when the recent holdout is empty', () => {
    const result = promotionGate({
      candidate: { recent: score(0, 0), nominal: score(0.9) },
      production: { version: 'v1', recent: score(0, 0), nominal: score(0.8) },
      settings: AUTO,
    });
    expect(result.decision).toBe('rejected');
    expect(result.reasons[0]).toContain('the recent holdout is empty');
  });

  it('passes anything when nothing is in production, and skips a missing nominal holdout', () => {
    expect(
      promotionGate({
        candidate: { recent: null, nominal: null },
        production: null,
        settings: AUTO,
      }),
    ).toMatchObject({ decision: 'production', passed: true, recentGain: null });
    const noNominal = promotionGate({
      candidate: { recent: score(0.5), nominal: null },
      production: { version: 'v1', recent: score(0.4), nominal: null },
      settings: STAGING,
    });
    expect(noNominal.decision).toBe('staging');
    expect(noNominal.reasons[1]).toContain('nominal rule was skipped');
  });
});
