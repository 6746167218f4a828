#!/usr/bin/env node
// Set-up that `npm start` and `npm test` run first (as their `pre` scripts). It installs only
// what is missing, so a second run costs a few hundred milliseconds:
//   1. npm packages, when node_modules is absent or older than package-lock.json;
//   2. Debian packages (ffmpeg, PyTorch and friends for the trainer, Chromium, PostgreSQL),
//      with apt-get when running as root, otherwise a message with the exact command;
//   3. the TypeScript build (incremental) and the dashboard bundle (web/dist, only when web/ or
//      src/shared changed since the last build).
// It must not import anything from node_modules: it is what installs them.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');

/** Debian packages the project needs, and why; the check is dpkg's view of the package. */
const DEBIAN_PACKAGES = [
  ['ffmpeg', 'video files, RTSP and V4L2 sources'],
  ['python3-torch', 'the trainer'],
  ['python3-numpy', 'the trainer'],
  ['python3-pil', 'the trainer'],
  ['python3-onnx', 'the trainer (ONNX export)'],
  ['python3-pytest', 'the trainer tests'],
  ['python3-scipy', 'statistics fixtures'],
  ['postgresql', 'the PostgreSQL integration tests'],
  ['chromium', 'the dashboard browser tests (test/browser, driven by playwright-core)'],
];

function log(message) {
  if (!quiet) console.error(`[setup] ${message}`);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function ensureNpmPackages() {
  const lock = join(root, 'package-lock.json');
  const installed = join(root, 'node_modules', '.package-lock.json');
  if (existsSync(installed) && mtime(installed) >= mtime(lock)) return;
  log('installing npm packages (npm ci)');
  // onnxruntime-node's install script would download CUDA libraries; it reads this variable
  // (an .npmrc key would do too, but npm 11 warns about keys it does not know).
  const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' };
  const status = run('npm', ['ci', '--no-audit', '--no-fund'], { env });
  if (status !== 0) throw new Error('npm ci failed; see the output above');
}

function debianPackageInstalled(name) {
  const result = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
  return result.status === 0 && result.stdout.includes('install ok installed');
}

function ensureDebianPackages() {
  const hasDpkg = spawnSync('dpkg-query', ['--version']).status === 0;
  if (!hasDpkg) {
    log(
      'not a Debian/Ubuntu system: install ffmpeg and PyTorch (python3 with torch, numpy, ' +
        'pillow, onnx) with your package manager; VISIONLOOP_PYTHON may name the interpreter',
    );
    return;
  }
  const missing = DEBIAN_PACKAGES.filter(([name]) => !debianPackageInstalled(name));
  if (missing.length === 0) return;
  const names = missing.map(([name]) => name);
  for (const [name, why] of missing) log(`missing Debian package ${name} (${why})`);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    console.error(
      `[setup] run as root, then try again:\n  sudo apt-get update && sudo apt-get install -y ${names.join(' ')}`,
    );
    process.exit(1);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (run('apt-get', ['update', '-qq'], { env }) !== 0) throw new Error('apt-get update failed');
  const status = run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...names], {
    env,
  });
  if (status !== 0) throw new Error(`apt-get install ${names.join(' ')} failed`);
}

function newestMtime(dir) {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : mtime(path));
  }
  return newest;
}

function ensureBuild() {
  const stamp = join(root, 'dist', '.tsbuildinfo');
  if (existsSync(stamp) && mtime(stamp) >= newestMtime(join(root, 'src'))) return;
  log('building (tsc)');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const status = run(process.execPath, [tsc, '-p', 'tsconfig.build.json']);
  if (status !== 0) throw new Error('the TypeScript build failed; see the errors above');
}

/**
 * The dashboard bundle (web/dist, served at `/`), rebuilt only when web/ or src/shared (the
 * contracts it imports) changed since the last build, or package-lock.json did.
 */
function ensureDashboard() {
  const stamp = join(root, 'web', 'dist', 'index.html');
  const sources = Math.max(
    newestMtime(join(root, 'web', 'src')),
    newestMtime(join(root, 'src', 'shared')),
    mtime(join(root, 'web', 'index.html')),
    mtime(join(root, 'web', 'vite.config.ts')),
    mtime(join(root, 'package-lock.json')),
  );
  if (existsSync(stamp) && mtime(stamp) >= sources) return;
  log('building the dashboard (vite)');
  const vite = join(root, 'node_modules', 'vite', 'bin', 'vite.js');
  const status = run(process.execPath, [
    vite,
    'build',
    '--config',
    join(root, 'web', 'vite.config.ts'),
    '--logLevel',
    quiet ? 'error' : 'warn',
  ]);
  if (status !== 0) throw new Error('the dashboard build failed; see the errors above');
}

try {
  ensureNpmPackages();
  ensureDebianPackages();
  ensureBuild();
  ensureDashboard();
} catch (error) {
  console.error(`[setup] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
