/** Commander option parsers that reject bad values with a message naming the flag's problem. */
import { InvalidArgumentError } from 'commander';

export function parseNumberInRange(min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (value.trim() === '' || !Number.isFinite(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`expected a number from ${min} to ${max}, got '${value}'`);
    }
    return parsed;
  };
}

export function parseIntegerInRange(min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got '${value}'`);
    }
    return parsed;
  };
}

/** "0.4,0.7" → { low: 0.4, high: 0.7 } with 0 ≤ low < high ≤ 1. */
export function parseBand(value: string): { low: number; high: number } {
  const parts = value.split(',').map((part) => Number(part.trim()));
  const [low, high] = parts;
  if (
    parts.length !== 2 ||
    low === undefined ||
    high === undefined ||
    !(low >= 0 && low < high && high <= 1)
  ) {
    throw new InvalidArgumentError(`expected LOW,HIGH with 0 ≤ LOW < HIGH ≤ 1, got '${value}'`);
  }
  return { low, high };
}
