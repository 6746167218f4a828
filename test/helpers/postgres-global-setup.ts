/**
 * Vitest global setup. With `VISIONLOOP_TEST_POSTGRES=1` it starts a throwaway PostgreSQL
 * cluster (scripts/postgres-test-server.mjs: 127.0.0.1, free port, temp dir) before the first
 * test file and stops and deletes it after the last (also on exit if vitest is interrupted).
 * Test workers receive its URL as `VISIONLOOP_TEST_DATABASE_URL` and through
 * `inject('visionloopPostgresUrl')`; test/helpers/database.ts reads either.
 *
 * It does not set `DATABASE_URL`: that variable configures the product, and tests of the
 * configuration's defaults must not see a test cluster. When `VISIONLOOP_TEST_DATABASE_URL` is
 * already set, that server is used and nothing is started. Without the flag it does nothing.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The PostgreSQL server for this run, or '' when there is none. */
    visionloopPostgresUrl: string;
  }
}

const SCRIPT = fileURLToPath(new URL('../../scripts/postgres-test-server.mjs', import.meta.url));

interface ClusterInfo {
  databaseUrl: string;
  dir: string;
}

function parseClusterInfo(stdout: string): ClusterInfo {
  const parsed: unknown = JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
  if (
    typeof parsed === 'object' &&
    parsed !== null &&
    'databaseUrl' in parsed &&
    'dir' in parsed &&
    typeof parsed.databaseUrl === 'string' &&
    typeof parsed.dir === 'string'
  ) {
    return { databaseUrl: parsed.databaseUrl, dir: parsed.dir };
  }
  throw new Error(`postgres-test-server.mjs printed an unexpected result: ${stdout}`);
}

export default function setup(project: TestProject): (() => void) | undefined {
  const given = process.env.VISIONLOOP_TEST_DATABASE_URL ?? '';
  if (process.env.VISIONLOOP_TEST_POSTGRES !== '1' || given !== '') {
    project.provide('visionloopPostgresUrl', given);
    return undefined;
  }
  const started = spawnSync(process.execPath, [SCRIPT, 'start', '--json'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (started.status !== 0) {
    throw new Error(
      `VISIONLOOP_TEST_POSTGRES=1 but the test PostgreSQL server did not start ` +
        `(exit ${started.status}); see the messages above`,
    );
  }
  const cluster = parseClusterInfo(started.stdout);
  process.env.VISIONLOOP_TEST_DATABASE_URL = cluster.databaseUrl;
  project.provide('visionloopPostgresUrl', cluster.databaseUrl);

  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    process.off('exit', stop);
    spawnSync(process.execPath, [SCRIPT, 'stop', cluster.dir], { stdio: 'inherit' });
  };
  process.on('exit', stop);
  return stop;
}
