#!/usr/bin/env node
// A throwaway PostgreSQL cluster for tests and benchmarks: a fresh data directory under the
// system temp dir, listening on 127.0.0.1 on a free port, reachable only with a random password
// (TCP) or by its owner through a unix socket inside that directory. It installs Debian's
// `postgresql` only when the binaries are missing and we are root; otherwise it prints the
// command. It must never touch a cluster it did not create: `stop` removes a directory only
// when it carries this script's marker file.
//
//   node scripts/postgres-test-server.mjs start [--json] [--durable]   # prints DATABASE_URL
//   eval "$(node scripts/postgres-test-server.mjs start)"              # exports it in a shell
//   node scripts/postgres-test-server.mjs stop [DIR]                   # DIR or $VISIONLOOP_PG_DIR
//   node scripts/postgres-test-server.mjs status [DIR]
//
// By default the cluster runs with fsync off (a test cluster loses nothing that matters);
// `--durable` keeps PostgreSQL's defaults, for benchmarks that must measure real commits.
// It imports only Node built-ins: it may run before `npm ci`.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

const MARKER = '.visionloop-pg';
const DATABASE = 'visionloop_test';
const SUPERUSER = 'postgres';

function log(message) {
  console.error(`[postgres-test-server] ${message}`);
}

function fail(message) {
  log(`error: ${message}`);
  process.exit(1);
}

function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function commandExists(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function shellQuote(value) {
  return `'${String(value).replaceAll("'", `'\\''`)}'`;
}

/** Runs a PostgreSQL binary as the cluster owner: initdb and postgres refuse to run as root. */
function runAsOwner(args, options = {}) {
  let command = args[0];
  let rest = args.slice(1);
  if (isRoot()) {
    if (commandExists('runuser')) {
      command = 'runuser';
      rest = ['-u', SUPERUSER, '--', ...args];
    } else {
      command = 'su';
      rest = [SUPERUSER, '-s', '/bin/sh', '-c', args.map(shellQuote).join(' ')];
    }
  }
  const result = spawnSync(command, rest, { encoding: 'utf8', ...options });
  if (result.error) throw result.error;
  return result;
}

function mustRun(args, what) {
  const result = runAsOwner(args);
  if (result.status !== 0) {
    fail(`${what} failed (exit ${result.status}):\n${result.stderr || result.stdout}`);
  }
  return result;
}

function versionOf(binDir) {
  return Number(/\/postgresql\/(\d+)\/bin$/.exec(binDir)?.[1] ?? 0);
}

function findBinDir() {
  const candidates = [];
  if (process.env.PG_BINDIR) candidates.push(process.env.PG_BINDIR);
  const pgConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (pgConfig.status === 0) candidates.push(pgConfig.stdout.trim());
  if (existsSync('/usr/lib/postgresql')) {
    const debian = readdirSync('/usr/lib/postgresql')
      .map((version) => `/usr/lib/postgresql/${version}/bin`)
      .sort((a, b) => versionOf(b) - versionOf(a));
    candidates.push(...debian);
  }
  const found = candidates.find((dir) => existsSync(join(dir, 'initdb')));
  if (found) return found;
  const onPath = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  if (onPath.status === 0) return onPath.stdout.trim().replace(/\/initdb$/, '');
  return undefined;
}

function installPostgres() {
  const command = 'apt-get install -y --no-install-recommends postgresql';
  if (!isRoot() || !commandExists('apt-get')) {
    fail(`PostgreSQL is not installed. Install it with: sudo ${command}`);
  }
  log(`PostgreSQL binaries not found; running: ${command}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const args = ['install', '-y', '--no-install-recommends', 'postgresql'];
  let result = spawnSync('apt-get', args, { stdio: 'inherit', env });
  if (result.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    result = spawnSync('apt-get', args, { stdio: 'inherit', env });
  }
  if (result.status !== 0) fail(`"${command}" failed`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function parseArgs(argv) {
  const flags = new Set(argv.filter((arg) => arg.startsWith('--')));
  const positional = argv.filter((arg) => !arg.startsWith('--'));
  return { command: positional[0], rest: positional.slice(1), flags };
}

function clusterSettings(port, dir, durable) {
  const lines = [
    '',
    '# written by scripts/postgres-test-server.mjs',
    "listen_addresses = '127.0.0.1'",
    `port = ${port}`,
    `unix_socket_directories = '${dir}'`,
    'max_connections = 100',
  ];
  if (!durable) {
    lines.push('fsync = off', 'synchronous_commit = off', 'full_page_writes = off');
  }
  return `${lines.join('\n')}\n`;
}

async function start(flags) {
  let binDir = findBinDir();
  if (!binDir) {
    installPostgres();
    binDir = findBinDir();
    if (!binDir) fail('PostgreSQL was installed but initdb is still not found; set PG_BINDIR');
  }
  if (isRoot() && spawnSync('id', [SUPERUSER], { stdio: 'ignore' }).status !== 0) {
    fail(`running as root needs the "${SUPERUSER}" system user (Debian's postgresql creates it)`);
  }

  const dir = mkdtempSync(join(tmpdir(), 'visionloop-pg-'));
  writeFileSync(join(dir, MARKER), 'created by scripts/postgres-test-server.mjs\n');
  const dataDir = join(dir, 'data');
  const password = randomBytes(18).toString('base64url');
  const passwordFile = join(dir, 'password');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  chmodSync(dir, 0o700);
  if (isRoot()) {
    const chown = spawnSync('chown', ['-R', `${SUPERUSER}:`, dir], { encoding: 'utf8' });
    if (chown.status !== 0) fail(`chown ${dir} failed: ${chown.stderr}`);
  }

  mustRun(
    [
      join(binDir, 'initdb'),
      '-D',
      dataDir,
      '-U',
      SUPERUSER,
      `--pwfile=${passwordFile}`,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
    ],
    'initdb',
  );
  rmSync(passwordFile);

  const durable = flags.has('--durable');
  const baseConf = readFileSync(join(dataDir, 'postgresql.conf'), 'utf8');
  let port = 0;
  let started = false;
  for (let attempt = 0; attempt < 3 && !started; attempt += 1) {
    port = await freePort();
    writeFileSync(join(dataDir, 'postgresql.conf'), baseConf);
    appendFileSync(join(dataDir, 'postgresql.conf'), clusterSettings(port, dir, durable));
    const logFile = join(dir, 'postgres.log');
    const result = runAsOwner([
      join(binDir, 'pg_ctl'),
      '-D',
      dataDir,
      '-l',
      logFile,
      '-w',
      '-t',
      '60',
      'start',
    ]);
    started = result.status === 0;
    if (!started) {
      const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
      log(`start on port ${port} failed (attempt ${attempt + 1}):\n${result.stderr}${tail}`);
    }
  }
  if (!started) {
    rmSync(dir, { recursive: true, force: true });
    fail('PostgreSQL did not start; see the log above');
  }

  mustRun(
    [join(binDir, 'createdb'), '-h', dir, '-p', String(port), '-U', SUPERUSER, DATABASE],
    'createdb',
  );

  const version = spawnSync(join(binDir, 'postgres'), ['--version'], { encoding: 'utf8' });
  const databaseUrl = `postgres://${SUPERUSER}:${password}@127.0.0.1:${port}/${DATABASE}`;
  const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const info = {
    databaseUrl,
    dir,
    port,
    pid,
    binDir,
    durable,
    version: version.stdout.trim(),
  };
  writeFileSync(join(dir, 'server.json'), `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  log(`${info.version} listening on 127.0.0.1:${port} (data in ${dir}, pid ${pid})`);
  if (flags.has('--json')) {
    console.log(JSON.stringify(info));
  } else {
    console.log(`export DATABASE_URL=${shellQuote(databaseUrl)}`);
    console.log(`export VISIONLOOP_PG_DIR=${shellQuote(dir)}`);
  }
}

function resolveDir(rest) {
  const dir = rest[0] ?? process.env.VISIONLOOP_PG_DIR;
  if (!dir) fail('which cluster? pass its directory or set VISIONLOOP_PG_DIR');
  if (!existsSync(join(dir, MARKER))) {
    fail(`${dir} was not created by this script (no ${MARKER} marker); refusing to touch it`);
  }
  return dir;
}

function readInfo(dir) {
  try {
    return JSON.parse(readFileSync(join(dir, 'server.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

function stop(rest) {
  const dir = resolveDir(rest);
  const binDir = readInfo(dir)?.binDir ?? findBinDir();
  const dataDir = join(dir, 'data');
  if (binDir && existsSync(join(dataDir, 'postmaster.pid'))) {
    const result = runAsOwner([join(binDir, 'pg_ctl'), '-D', dataDir, '-m', 'fast', '-w', 'stop']);
    if (result.status !== 0) log(`pg_ctl stop: ${result.stderr.trim()}`);
  }
  rmSync(dir, { recursive: true, force: true });
  log(`stopped and removed ${dir}`);
}

function status(rest) {
  const dir = resolveDir(rest);
  const info = readInfo(dir);
  const binDir = info?.binDir ?? findBinDir();
  const result = runAsOwner([join(binDir, 'pg_ctl'), '-D', join(dir, 'data'), 'status']);
  console.log(JSON.stringify({ ...info, running: result.status === 0 }));
  process.exit(result.status === 0 ? 0 : 3);
}

const { command, rest, flags } = parseArgs(process.argv.slice(2));
switch (command) {
  case 'start':
    await start(flags);
    break;
  case 'stop':
    stop(rest);
    break;
  case 'status':
    status(rest);
    break;
  default:
    console.error(
      `usage: postgres-test-server.mjs start [--json] [--durable] | stop [DIR] | status [DIR]` +
        ` (running as ${userInfo().username})`,
    );
    process.exit(2);
}
