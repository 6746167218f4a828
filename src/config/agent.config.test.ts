import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isVisionLoopError } from '../shared/errors.js';
import { resolveAgentConfig } from './agent.config.js';

function problemsOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (isVisionLoopError(error) && error.code === 'CONFIG_INVALID') return error.message;
    throw error;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('resolveAgentConfig', () => {
  it('takes the environment, with the documented defaults', () => {
    const config = resolveAgentConfig(
      {},
      {
        VISIONLOOP_SERVER_URL: 'http://127.0.0.1:8080',
        VISIONLOOP_AGENT_TOKEN: 'vl_agent_x',
        VISIONLOOP_AGENT_SOURCE: 'synth:nominal',
        VISIONLOOP_DATA_DIR: '/var/lib/visionloop',
      },
    );
    expect(config).toMatchObject({
      serverUrl: 'http://127.0.0.1:8080',
      token: 'vl_agent_x',
      source: 'synth:nominal',
      camera: 'camera-1',
      outboxPath: join('/var/lib/visionloop', 'agent-camera-1', 'outbox.db'),
      outboxMaxBytes: 256 * 1024 * 1024,
      batchSize: 200,
      batchDelayMs: 1000,
      drainTimeoutS: 10,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('lets flags override the environment', () => {
    const config = resolveAgentConfig(
      {
        server: 'http://h:1',
        token: 't2',
        source: 'synth:night',
        camera: 'line-2',
        outboxMaxMb: 2,
        batch: 50,
        drainTimeout: 3,
      },
      {
        VISIONLOOP_SERVER_URL: 'http://other:2',
        VISIONLOOP_AGENT_TOKEN: 't1',
        VISIONLOOP_DATA_DIR: 'd',
      },
    );
    expect(config).toMatchObject({
      serverUrl: 'http://h:1',
      token: 't2',
      camera: 'line-2',
      outboxPath: join('d', 'agent-line-2', 'outbox.db'),
      outboxMaxBytes: 2 * 1024 * 1024,
      batchSize: 50,
      drainTimeoutS: 3,
    });
  });

  it('lists every problem at once', () => {
    const message = problemsOf(() => resolveAgentConfig({ camera: '../etc' }, {}));
    expect(message).toContain('server URL is missing');
    expect(message).toContain('token is missing');
    expect(message).toContain('source is missing');
    expect(message).toContain("camera name '../etc' is invalid");
  });

  it('refuses a server URL that is not http(s)', () => {
    const message = problemsOf(() =>
      resolveAgentConfig({ server: 'ftp://x', token: 't', source: 'synth:nominal' }, {}),
    );
    expect(message).toContain("must be http(s)://host:port, got 'ftp://x'");
  });
});
