import { describe, expect, it } from 'vitest';
import { VisionLoopError } from '../shared/errors.js';
import { formatDuration, formatError, formatTable } from './output.js';

describe('cli output', () => {
  it('aligns table columns to the widest cell', () => {
    const table = formatTable(
      ['class', 'AP50'],
      [
        ['scratch', '0.912'],
        ['dent', 1],
      ],
    );
    expect(table.split('\n')).toEqual([
      'class    AP50',
      '-------  -----',
      'scratch  0.912',
      'dent     1',
    ]);
  });

  it('formats durations as mm:ss and h:mm:ss', () => {
    expect(formatDuration(75)).toBe('01:15');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(Number.NaN)).toBe('--:--');
  });

  it('names the error code of a VisionLoopError', () => {
    expect(formatError(new VisionLoopError('MODEL_NOT_FOUND', 'no file at m.onnx'))).toBe(
      'error [MODEL_NOT_FOUND]: no file at m.onnx',
    );
  });
});
