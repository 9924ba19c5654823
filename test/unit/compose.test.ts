// Checks the deployment files against each other and against the server: a
// variable the server does not read, a port open to the network, a replica
// nginx does not balance to, or a bucket nobody creates fails here, not on a
// user's first `docker compose up`.
import { describe, it, expect } from 'vitest';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { API_PREFIX } from '../../server/app.js';
import { CONFIG_VARIABLES } from '../../server/config.js';
import { VARIABLES } from '../../server/config-schema.js';
import { metricsRoutes } from '../../server/routes/metrics.js';
import { STORES_CLOSE_MS } from '../../server/http/listener.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (rel: string): string => readFileSync(path.join(root, rel), 'utf8');

type DependsOn = string[] | Record<string, { condition?: string }>;
interface Service {
  image?: string;
  build?: string | { context?: string };
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { published?: string | number; host_ip?: string })[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  depends_on?: DependsOn;
  networks?: string[] | Record<string, { aliases?: string[] } | null>;
  volumes?: (string | { source?: string; target?: string })[];
  restart?: string;
  entrypoint?: string | string[];
  command?: string | string[];
  configs?: (string | { source?: string; target?: string })[];
  stop_grace_period?: string;
}
interface Compose {
  services: Record<string, Service>;
  configs?: Record<string, { content?: string; file?: string }>;
}

const COMPOSE_FILES = ['docker-compose.yml', 'docker-compose.localstack.yml'] as const;
// `merge: true` resolves the `<<: *augur` keys the way Compose does.
const composes = Object.fromEntries(
  COMPOSE_FILES.map((f) => [f, parse(read(f), { merge: true }) as Compose]),
) as Record<(typeof COMPOSE_FILES)[number], Compose>;

const knownVariables = new Set<string>(CONFIG_VARIABLES);

/** Compose `${NAME:-default}` interpolation, taking the default (what a user without a .env gets). */
function withDefaults(value: string): string {
  return value.replace(/\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}/g, (_, def: string | undefined) => def ?? '');
}

function environment(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((entry) => {
      const i = entry.indexOf('=');
      return i < 0 ? [entry, ''] : [entry.slice(0, i), withDefaults(entry.slice(i + 1))];
    }));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, withDefaults(String(v ?? ''))]));
}

function dependencies(service: Service): Record<string, string> {
  const deps = service.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([name, d]) => [name, d.condition ?? 'service_started']));
}

/** Augur replicas are the services built from this repository's Dockerfile. */
function augurServices(compose: Compose): string[] {
  return Object.keys(compose.services).filter((name) => compose.services[name].build !== undefined);
}

/** One-shot jobs: services another one waits on to exit successfully. */
function oneShotServices(compose: Compose): Set<string> {
  const names = new Set<string>();
  for (const service of Object.values(compose.services)) {
    for (const [dep, condition] of Object.entries(dependencies(service))) {
      if (condition === 'service_completed_successfully') names.add(dep);
    }
  }
  return names;
}

/** The host address each published port binds to ('' when it binds to every interface). */
function publishedPorts(service: Service): { spec: string; hostIp: string; hostPort: string }[] {
  return (service.ports ?? []).map((port) => {
    if (typeof port === 'object') {
      return { spec: JSON.stringify(port), hostIp: port.host_ip ?? '', hostPort: String(port.published ?? '') };
    }
    const spec = String(port);
    const m = /^(?:(\[[^\]]+\]|[^:]+):)?(?:(\d+(?:-\d+)?):)?(\d+(?:-\d+)?)(?:\/\w+)?$/.exec(spec);
    if (!m) throw new Error(`unparsed port ${spec}`);
    // "A:B" is host port A to container port B, "B" publishes on a random port.
    const [, ipOrPort, hostPort, ] = m;
    if (hostPort === undefined) return { spec, hostIp: '', hostPort: ipOrPort ?? '' };
    return { spec, hostIp: ipOrPort ?? '', hostPort };
  });
}

function networkAliases(service: Service): string[] {
  const networks = service.networks;
  if (!networks || Array.isArray(networks)) return [];
  return Object.values(networks).flatMap((n) => n?.aliases ?? []);
}

function bindMounts(service: Service): { source: string; target: string }[] {
  return (service.volumes ?? []).flatMap((v) => {
    if (typeof v === 'object') return v.source && v.target ? [{ source: v.source, target: v.target }] : [];
    const [source, target] = v.split(':');
    return source.startsWith('.') || source.startsWith('/') ? [{ source, target }] : [];
  });
}

function commandText(service: Service): string {
  const parts = [service.entrypoint ?? [], service.command ?? []].flat();
  return parts.join(' ');
}

const nginxConf = read('deploy/nginx.conf');

/** host:port pairs of the `upstream augur { server ...; }` block. */
function upstreamServers(): { host: string; port: number }[] {
  const block = /upstream\s+augur\s*\{([^}]*)\}/.exec(nginxConf);
  if (!block) throw new Error('deploy/nginx.conf has no `upstream augur` block');
  return [...block[1].matchAll(/^\s*server\s+([A-Za-z0-9_.-]+):(\d+)\b/gm)].map((m) => ({ host: m[1], port: Number(m[2]) }));
}

/** Milliseconds of a Compose duration (`75s`, `1m15s`, `90`). */
function durationMs(value: string): number {
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|us|h|m|s)/g)];
  expect(parts.map((p) => p[0]).join(''), `unparsed duration ${value}`).toBe(value);
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001 };
  return parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2]], 0);
}

const readme = read('README.md');

describe.each(COMPOSE_FILES)('%s', (file) => {
  const compose = composes[file];
  const services = compose.services;
  const augur = augurServices(compose);

  it('defines Augur replicas built from the Dockerfile, plus nginx', () => {
    expect(augur.length).toBeGreaterThan(0);
    for (const name of augur) {
      const build = services[name].build;
      expect(typeof build === 'string' ? build : build?.context, name).toBe('.');
    }
    expect(services.nginx, 'nginx service').toBeDefined();
  });

  it('sets only environment variables the server reads', () => {
    for (const [name, service] of Object.entries(services)) {
      const isAugur = augur.includes(name);
      for (const variable of Object.keys(environment(service))) {
        const augurStyle = variable.startsWith('AUGUR_') || variable === 'PORT';
        if (augurStyle || isAugur) {
          const allowed = knownVariables.has(variable) || (isAugur && /^AWS_[A-Z0-9_]+$/.test(variable));
          expect(allowed, `${name}: ${variable} is not a variable server/config.ts reads`).toBe(true);
        }
      }
    }
  });

  it('binds every published port to 127.0.0.1', () => {
    let count = 0;
    for (const [name, service] of Object.entries(services)) {
      for (const port of publishedPorts(service)) {
        count++;
        expect(port.hostIp, `${name}: ${port.spec}`).toBe('127.0.0.1');
      }
    }
    expect(count).toBeGreaterThan(0);
  });

  it('gives every long-running service a healthcheck; one-shot jobs do not restart', () => {
    const oneShots = oneShotServices(compose);
    for (const [name, service] of Object.entries(services)) {
      if (oneShots.has(name)) {
        expect(['no', undefined], `${name} restart`).toContain(service.restart);
        continue;
      }
      expect(service.healthcheck?.test, `${name} healthcheck`).toBeTruthy();
      expect(service.healthcheck?.disable, `${name} healthcheck disabled`).not.toBe(true);
    }
  });

  it('starts every dependant only once its dependencies are healthy or done', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [dep, condition] of Object.entries(dependencies(service))) {
        expect(services[dep], `${name} depends on unknown ${dep}`).toBeDefined();
        expect(['service_healthy', 'service_completed_successfully'], `${name} → ${dep}`).toContain(condition);
      }
    }
  });

  it('points the replicas at the backends of the same file', () => {
    for (const name of augur) {
      const env = environment(services[name]);
      for (const variable of ['AUGUR_DATABASE_URL', 'AUGUR_REDIS_URL', 'AUGUR_S3_ENDPOINT']) {
        expect(env[variable], `${name}: ${variable}`).toBeTruthy();
        const host = new URL(env[variable]).hostname;
        expect(services[host], `${name}: ${variable} names service ${host}`).toBeDefined();
        expect(dependencies(services[name])[host], `${name} waits for ${host}`).toBe('service_healthy');
      }
      expect(env.AUGUR_S3_BUCKET).toMatch(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/);
      expect(env.AUGUR_S3_FORCE_PATH_STYLE).toBe('true');
      expect(env.AWS_ACCESS_KEY_ID).toBeTruthy();
      expect(env.AWS_SECRET_ACCESS_KEY).toBeTruthy();
      expect(env.AUGUR_TRUST_PROXY, 'nginx is one proxy hop').toBe('1');
    }
  });

  it('publishes the URLs it advertises: AUGUR_PUBLIC_URL on nginx, AUGUR_S3_PUBLIC_ENDPOINT on the S3 service', () => {
    const nginxPorts = publishedPorts(services.nginx).map((p) => p.hostPort);
    for (const name of augur) {
      const env = environment(services[name]);
      const publicUrl = new URL(env.AUGUR_PUBLIC_URL);
      expect(nginxPorts, `${name}: AUGUR_PUBLIC_URL`).toContain(publicUrl.port);
      const s3Service = new URL(env.AUGUR_S3_ENDPOINT).hostname;
      const s3Public = new URL(env.AUGUR_S3_PUBLIC_ENDPOINT);
      expect(s3Public.hostname).toBe('localhost');
      expect(publishedPorts(services[s3Service]).map((p) => p.hostPort), `${name}: AUGUR_S3_PUBLIC_ENDPOINT`).toContain(s3Public.port);
    }
  });

  it('gives every replica a stop grace period above its drain delay + drain timeout + store close, as the README says', () => {
    const defaults = Object.fromEntries(VARIABLES.map((v) => [v.name, 'default' in v ? String(v.default) : '']));
    for (const name of augur) {
      const env = { ...defaults, ...environment(services[name]) };
      const grace = services[name].stop_grace_period;
      expect(grace, `${name}: stop_grace_period (Docker's default 10 s would SIGKILL a drain)`).toBeTruthy();
      const drain = Number(env.AUGUR_DRAIN_DELAY_MS) + Number(env.AUGUR_DRAIN_TIMEOUT_MS) + STORES_CLOSE_MS;
      expect(durationMs(grace!), `${name}: stop_grace_period ${grace} vs ${drain} ms of drain`).toBeGreaterThan(drain);
      expect(readme, 'README: the stop grace period of the compose files').toContain(`stop_grace_period: ${grace}`);
    }
  });

  it('mounts deploy/nginx.conf, whose upstream reaches every replica and only replicas', () => {
    expect(bindMounts(services.nginx)).toContainEqual({ source: './deploy/nginx.conf', target: '/etc/nginx/nginx.conf' });
    const names = new Map<string, string>(); // DNS name → augur service
    for (const name of augur) for (const alias of [name, ...networkAliases(services[name])]) names.set(alias, name);
    const upstream = upstreamServers();
    for (const { host, port } of upstream) {
      expect(names.has(host), `upstream server ${host} is an Augur replica of ${file}`).toBe(true);
      expect(String(port)).toBe(environment(services[names.get(host)!]).PORT ?? '8080');
    }
    const reached = new Set(upstream.map(({ host }) => names.get(host)));
    expect([...reached].sort()).toEqual([...augur].sort());
    for (const name of augur) expect(dependencies(services.nginx)[name], `nginx waits for ${name}`).toBeDefined();
  });
});

describe('docker-compose.yml', () => {
  const { services } = composes['docker-compose.yml'];
  const augur = augurServices(composes['docker-compose.yml']);

  it('runs three identical Augur replicas', () => {
    expect([...augur].sort()).toEqual(['augur-1', 'augur-2', 'augur-3']);
    for (const name of augur) expect(services[name]).toEqual(services['augur-1']);
    // One image name: Compose builds it once for all three.
    expect(services['augur-1'].image).toBeTruthy();
  });

  it('creates the bucket with a one-shot minio-init the replicas wait for', () => {
    const bucket = environment(services['augur-1']).AUGUR_S3_BUCKET;
    expect(commandText(services['minio-init'])).toMatch(new RegExp(`\\bmb\\b.*/${bucket}\\b`));
    for (const name of augur) {
      expect(dependencies(services[name])['minio-init']).toBe('service_completed_successfully');
    }
  });

  it('gives the replicas the MinIO root credentials', () => {
    const minio = environment(services.minio);
    for (const name of augur) {
      const env = environment(services[name]);
      expect(env.AWS_ACCESS_KEY_ID).toBe(minio.MINIO_ROOT_USER);
      expect(env.AWS_SECRET_ACCESS_KEY).toBe(minio.MINIO_ROOT_PASSWORD);
    }
    // MinIO refuses to start with a root password under 8 characters.
    expect(minio.MINIO_ROOT_PASSWORD.length).toBeGreaterThanOrEqual(8);
  });
});

describe('docker-compose.yml: Prometheus', () => {
  const compose = composes['docker-compose.yml'];
  const { services } = compose;
  const augur = augurServices(compose);
  const prometheus = services.prometheus;
  interface ScrapeConfig {
    job_name: string;
    metrics_path?: string;
    authorization?: { type?: string; credentials?: string; credentials_file?: string };
    static_configs?: { targets: string[] }[];
  }
  const config = parse(read('deploy/prometheus.yml')) as { scrape_configs: ScrapeConfig[] };
  const job = config.scrape_configs.find((j) => j.job_name === 'augur');
  const tokenSpec = VARIABLES.find((v) => v.name === 'AUGUR_METRICS_TOKEN')!;

  it('runs a pinned Prometheus image with deploy/prometheus.yml, after the replicas are healthy', () => {
    expect(prometheus, 'prometheus service').toBeDefined();
    expect(withDefaults(prometheus.image ?? '')).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
    expect(bindMounts(prometheus)).toContainEqual({ source: './deploy/prometheus.yml', target: '/etc/prometheus/prometheus.yml' });
    expect(commandText(prometheus)).toContain('--config.file=/etc/prometheus/prometheus.yml');
    for (const name of augur) expect(dependencies(prometheus)[name], `prometheus waits for ${name}`).toBe('service_healthy');
  });

  it('scrapes every replica directly, on its port, at the metrics route of the route table', () => {
    expect(job, 'an `augur` scrape job').toBeDefined();
    expect(metricsRoutes.map((r) => r.path)).toHaveLength(1);
    expect(job!.metrics_path).toBe(`${API_PREFIX}${metricsRoutes[0]!.path}`);
    const targets = (job!.static_configs ?? []).flatMap((c) => c.targets);
    const expected = augur.map((name) => `${name}:${environment(services[name]).PORT ?? '8080'}`);
    expect([...targets].sort()).toEqual([...expected].sort());
  });

  it('sends the replicas\' AUGUR_METRICS_TOKEN as its bearer token (the same default on both sides)', () => {
    const tokens = new Set(augur.map((name) => environment(services[name]).AUGUR_METRICS_TOKEN));
    expect(tokens.size).toBe(1);
    const token = [...tokens][0]!;
    expect(token.length).toBeGreaterThanOrEqual(tokenSpec.schema.minLength);
    expect(job!.authorization?.type).toBe('Bearer');
    const file = job!.authorization?.credentials_file;
    expect(file, 'the token comes from a file, not from the config').toBeTruthy();
    const mounted = (prometheus.configs ?? []).map((c) => (typeof c === 'string' ? { source: c, target: `/${c}` } : c)).find((c) => c.target === file);
    expect(mounted, `a config mounted at ${file}`).toBeDefined();
    expect(withDefaults(compose.configs?.[mounted!.source!]?.content ?? '')).toBe(token);
  });
});

describe('docker-compose.localstack.yml', () => {
  const compose = composes['docker-compose.localstack.yml'];
  const { services } = compose;
  const script = 'localstack/init/ready.d/create-bucket.sh';

  it('runs LocalStack with S3 and a ready hook folder', () => {
    expect(services.localstack.image).toMatch(/^localstack\/localstack:/);
    expect(environment(services.localstack).SERVICES.split(',')).toContain('s3');
    expect(bindMounts(services.localstack)).toContainEqual({
      source: './localstack/init/ready.d',
      target: '/etc/localstack/init/ready.d',
    });
  });

  it('has an executable init script that creates the bucket named in AUGUR_S3_BUCKET', () => {
    const mode = statSync(path.join(root, script)).mode;
    expect(mode & 0o111, `${script} must be executable or LocalStack skips it`).toBe(0o111);
    const text = read(script);
    expect(text.split('\n')[0]).toBe('#!/bin/bash');
    for (const name of augurServices(compose)) {
      const bucket = environment(services[name]).AUGUR_S3_BUCKET;
      expect(text).toMatch(new RegExp(`awslocal s3 mb s3://${bucket}\\b`));
      expect(new URL(environment(services[name]).AUGUR_S3_ENDPOINT).hostname).toBe('localstack');
    }
  });
});

describe('deploy/nginx.conf', () => {
  it('accepts uploads above the server limits and streams them', () => {
    const m = /client_max_body_size\s+(\d+)([km]?);/i.exec(nginxConf);
    expect(m).not.toBeNull();
    const bytes = Number(m![1]) * ({ '': 1, k: 1024, m: 1024 * 1024 } as Record<string, number>)[m![2].toLowerCase()];
    expect(bytes).toBeGreaterThan(32 * 1024 * 1024); // AUGUR_MAX_SCREENSHOT_BYTES default plus multipart overhead
    expect(nginxConf).toMatch(/^\s*proxy_request_buffering\s+off;/m);
  });

  it('forwards client address, scheme and request id', () => {
    for (const header of ['X-Forwarded-For', 'X-Forwarded-Proto', 'X-Request-Id']) {
      expect(nginxConf).toMatch(new RegExp(`proxy_set_header\\s+${header}\\s`));
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  it('ships what the server reads at run time, beside package.json', () => {
    for (const item of ['package.json', 'node_modules', 'dist', 'schema', 'openapi']) {
      expect(runtime).toMatch(new RegExp(`^COPY --from=build /app/${item} \\./`, 'm'));
    }
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim().replace(/\/$/, ''));
    for (const item of ['schema', 'openapi', 'package.json', 'package-lock.json']) expect(ignored).not.toContain(item);
  });

  it('runs as node, in exec form, with the healthcheck the compose files use', () => {
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/^CMD \["node", "dist\/scripts\/augur\.js", "serve"\]$/m);
    expect(runtime).toMatch(/^EXPOSE 8080$/m);
    expect(runtime).toMatch(/HEALTHCHECK[\s\S]*\/api\/v1\/healthz/);
  });
});
