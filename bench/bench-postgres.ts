/**
 * The PostgreSQL a bench runs against: DATABASE_URL when it is a postgres URL, else a
 * throwaway durable cluster (scripts/postgres-test-server.mjs start --durable: real commits on
 * 127.0.0.1, a free port, a temp dir) that `stop()` removes. One copy for bench/ingest and
 * bench/scale. Bench-only: never imported by src/.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = join(
  fileURLToPath(new URL('..', import.meta.url)),
  'scripts',
  'postgres-test-server.mjs',
);

export interface BenchPostgres {
  baseUrl: string;
  /** The throwaway cluster's data directory; null when DATABASE_URL was given. */
  clusterDir: string | null;
  /** The throwaway cluster's postmaster (for its CPU time); null when DATABASE_URL was given. */
  postmasterPid: number | null;
  /** Stops and removes the throwaway cluster; nothing for DATABASE_URL. */
  stop: () => void;
}

/**
 * DATABASE_URL (a postgres URL) or a new throwaway cluster. With `loopbackOnly`, a
 * DATABASE_URL whose host is not 127.0.0.1/localhost is refused.
 */
export function startBenchPostgres(options: {
  log: (message: string) => void;
  loopbackOnly?: boolean;
}): BenchPostgres {
  const given = process.env.DATABASE_URL;
  if (given !== undefined && /^postgres(ql)?:\/\//i.test(given)) {
    const host = new URL(given).hostname;
    if (options.loopbackOnly === true && host !== '127.0.0.1' && host !== 'localhost') {
      throw new Error(`the bench runs on loopback only; DATABASE_URL points at ${host}`);
    }
    return { baseUrl: given, clusterDir: null, postmasterPid: null, stop: () => undefined };
  }
  options.log('no DATABASE_URL: starting a throwaway durable PostgreSQL cluster');
  const started = spawnSync(process.execPath, [SCRIPT, 'start', '--durable', '--json'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (started.status !== 0) throw new Error('could not start PostgreSQL');
  const info = JSON.parse(started.stdout.trim().split('\n').at(-1) ?? '{}') as {
    databaseUrl: string;
    dir: string;
    pid: number;
  };
  return {
    baseUrl: info.databaseUrl,
    clusterDir: info.dir,
    postmasterPid: info.pid,
    stop: () => {
      spawnSync(process.execPath, [SCRIPT, 'stop', info.dir], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    },
  };
}

/** `baseUrl` with `search_path` set to `schema` (a fresh schema per phase or round). */
export function withSearchPath(baseUrl: string, schema: string): string {
  const url = new URL(baseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}
