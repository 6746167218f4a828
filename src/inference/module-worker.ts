/**
 * Starts a worker thread from a module URL. Built code (`dist/…/*.js`) starts directly; when
 * running from TypeScript sources (tests, `tsx`), the worker first registers tsx's loader,
 * because Node does not pass the parent's module hooks to workers.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

export function startModuleWorker(moduleUrl: URL, options: WorkerOptions = {}): Worker {
  if (!moduleUrl.pathname.endsWith('.ts')) return new Worker(moduleUrl, options);
  const bootstrap =
    `import('tsx/esm/api').then(({ register }) => { register(); ` +
    `return import(${JSON.stringify(moduleUrl.href)}); })`;
  return new Worker(bootstrap, { ...options, eval: true });
}

/** The URL of a sibling module, with the extension this file was loaded with (.ts or .js). */
export function siblingModuleUrl(baseUrl: string, stem: string): URL {
  const extension = baseUrl.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${stem}${extension}`, baseUrl);
}
