import { describe, expect, it } from 'vitest';
import { isLoopbackAddress } from './auth.plugin.js';

describe('isLoopbackAddress', () => {
  it('accepts IPv4 and IPv6 loopback, including IPv4-mapped', () => {
    for (const address of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) {
      expect(isLoopbackAddress(address)).toBe(true);
    }
  });

  it('refuses everything else', () => {
    for (const address of [
      undefined,
      '',
      '10.0.0.1',
      '128.0.0.1',
      '::ffff:10.0.0.1',
      '0.0.0.0',
      '::',
      '127.0.0.1.evil',
      'localhost',
    ]) {
      expect(isLoopbackAddress(address)).toBe(false);
    }
  });
});
