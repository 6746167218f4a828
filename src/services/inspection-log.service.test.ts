import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from './inspection-log.service.js';

describe('inspection-log cursors', () => {
  it('round-trip the position, ids with colons included', () => {
    for (const position of [
      { capturedAt: 0, id: 'a' },
      { capturedAt: 1_767_225_600_123, id: 'cam:1:frame-00042' },
    ]) {
      const cursor = encodeCursor(position);
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decodeCursor(cursor)).toEqual(position);
    }
  });

  it('refuse anything the server did not issue', () => {
    const forged = [
      'not base64!',
      Buffer.from('12:../../etc/passwd').toString('base64url'),
      Buffer.from('abc:id').toString('base64url'),
      Buffer.from('12').toString('base64url'),
      Buffer.from('99999999999999999:x').toString('base64url'),
      '',
    ];
    for (const cursor of forged) {
      expect(() => decodeCursor(cursor)).toThrowError(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as Error,
      );
    }
  });
});
