import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect, explicitToken, isErrorCode } from './server-connection.js';

const dir = mkdtempSync(join(tmpdir(), 'vl-connection-'));
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, 'vl_from_file\n');

describe('explicitToken', () => {
  it('takes --token, then --token-file (trimmed), then $VISIONLOOP_TOKEN', () => {
    const env = { VISIONLOOP_TOKEN: 'vl_from_env' };
    expect(explicitToken({ token: 'vl_flag', tokenFile }, env)).toBe('vl_flag');
    expect(explicitToken({ tokenFile }, env)).toBe('vl_from_file');
    expect(explicitToken({}, env)).toBe('vl_from_env');
  });

  it('is null when none is given; an empty variable counts as unset', () => {
    expect(explicitToken({}, {})).toBeNull();
    expect(explicitToken({}, { VISIONLOOP_TOKEN: '' })).toBeNull();
  });

  it('names a token file it cannot read', () => {
    const missing = join(dir, 'missing');
    expect(() => explicitToken({ tokenFile: missing }, {})).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: `cannot read --token-file ${missing}`,
      }) as Error,
    );
  });
});

describe('connect', () => {
  it('uses --server without its trailing slash, else the environment, else the default', () => {
    const env = { VISIONLOOP_TOKEN: 't' };
    expect(connect({ server: 'http://h:1/' }, { env }).base).toBe('http://h:1');
    expect(connect({}, { env: { ...env, VISIONLOOP_SERVER_URL: 'http://e:2' } }).base).toBe(
      'http://e:2',
    );
    expect(connect({}, { env }).base).toBe('http://127.0.0.1:8080');
    expect(connect({}, { env }).token).toBe('t');
  });
});

describe('isErrorCode', () => {
  it('knows the catalogue and nothing else', () => {
    expect(isErrorCode('VALIDATION_FAILED')).toBe(true);
    expect(isErrorCode('toString')).toBe(false);
    expect(isErrorCode('NOPE')).toBe(false);
  });
});
