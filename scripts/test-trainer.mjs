#!/usr/bin/env node
// Runs the trainer's pytest suite with the first Python that can import PyTorch
// (VISIONLOOP_PYTHON, then /usr/bin/python3, then python3), the same order the product uses.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const trainer = join(dirname(fileURLToPath(import.meta.url)), '..', 'trainer');
const candidates = [process.env.VISIONLOOP_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean);
const python = candidates.find(
  (candidate) =>
    spawnSync(candidate, ['-c', 'import torch, pytest'], { stdio: 'ignore' }).status === 0,
);
if (!python) {
  console.error(
    'no Python with PyTorch and pytest found; install them with:\n' +
      '  sudo apt-get install -y python3-torch python3-numpy python3-pil python3-onnx python3-pytest',
  );
  process.exit(1);
}
const result = spawnSync(python, ['-m', 'pytest', '-q', 'tests'], {
  cwd: trainer,
  stdio: 'inherit',
  env: { ...process.env, PYTHONPATH: trainer, PYTHONDONTWRITEBYTECODE: '1' },
});
process.exit(result.status ?? 1);
