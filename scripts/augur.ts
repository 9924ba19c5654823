#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig, ConfigError, type Config } from '../server/config.js';
import { createLogger } from '../server/logger.js';
import { ApiError } from '../server/errors.js';
import { serve } from '../server/main.js';
import { closeStores, openStores } from '../server/bootstrap.js';
import { TenantAdmin } from '../server/services/tenants.js';
import { DsnCache } from '../server/services/dsn-cache.js';
import { ConflictError } from '../storage/metadata/index.js';
import type { Stores } from '../server/context.js';

// stdout carries results only; logs and messages go to stderr.
const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

function config(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`augur: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** Opens the stores the environment names, runs fn, closes them. */
async function withStores<T>(fn: (stores: Stores, admin: TenantAdmin, cfg: Config) => Promise<T>): Promise<T> {
  const cfg = config();
  const logger = createLogger(cfg.logLevel === 'info' ? 'warn' : cfg.logLevel);
  const stores = await openStores(cfg, logger);
  try {
    return await fn(stores, new TenantAdmin(stores.metadata, cfg), cfg);
  } finally {
    await closeStores(stores);
  }
}

const onOff = (v: string): boolean => {
  if (v === 'on') return true;
  if (v === 'off') return false;
  throw new InvalidArgumentError('expected on or off');
};

const program = new Command('augur').description('Augur server: where computer-use agents send their runs').showHelpAfterError();

program
  .command('serve')
  .description('start the HTTP server (what npm start runs)')
  .action(async () => {
    const cfg = config();
    await serve(cfg, createLogger(cfg.logLevel));
  });

program
  .command('migrate')
  .description('apply pending database migrations and exit')
  .action(() => withStores(async (stores) => out(`migrations applied (${stores.metadata.kind})`)));

const admin = program.command('admin').description('manage tenants, users and DSNs');

admin
  .command('tenant-create <slug>')
  .option('--name <name>', 'display name')
  .option('--modelio', 'enable modelio capture', false)
  .action((slug: string, o: { name?: string; modelio: boolean }) =>
    withStores(async (_s, a) => {
      const t = await a.createTenant(slug, { name: o.name, modelio: o.modelio });
      out(JSON.stringify({ id: t.id, slug: t.slug, name: t.name, modelio_enabled: t.modelio_enabled }));
    }),
  );

admin
  .command('tenant-update <slug>')
  .requiredOption('--modelio <on|off>', 'modelio capture', onOff)
  .action((slug: string, o: { modelio: boolean }) =>
    withStores(async (s, a) => {
      const t = await a.updateTenant(slug, { modelio: o.modelio });
      // Replicas re-read tenants within seconds anyway; the broadcast makes it immediate.
      await new DsnCache(s.metadata, s.bus, createLogger('warn'), Date.now).broadcast({ tenantId: t.id });
      out(JSON.stringify({ id: t.id, slug: t.slug, modelio_enabled: t.modelio_enabled }));
    }),
  );

admin
  .command('user-create')
  .requiredOption('--email <email>')
  .requiredOption('--password <password>')
  .requiredOption('--tenant <slug>')
  .option('--admin', 'make the user an admin', false)
  .action((o: { email: string; password: string; tenant: string; admin: boolean }) =>
    withStores(async (_s, a) => {
      const u = await a.createUser(o.email, o.password, o.tenant, o.admin);
      out(JSON.stringify({ id: u.id, email: u.email, tenant_id: u.tenant_id, is_admin: u.is_admin }));
    }),
  );

admin
  .command('dsn-issue')
  .description('mint a DSN; prints it alone on the last stdout line (the export line goes to stderr)')
  .requiredOption('--tenant <slug>')
  .option('--client <name>', 'client name the DSN is for')
  .option('--label <name>', 'the same as --client (the name the SDK docs use)')
  .option('--json', 'print one line of JSON with id, dsn, export, api_key', false)
  .action((o: { tenant: string; client?: string; label?: string; json: boolean }) =>
    withStores(async (_s, a) => {
      if (o.client !== undefined && o.label !== undefined && o.client !== o.label) {
        throw new ApiError('validation_failed', '--client and --label name the same thing; give one');
      }
      const name = o.client ?? o.label;
      if (name === undefined || name === '') throw new ApiError('validation_failed', 'give --client <name> (or --label <name>)');
      const t = await a.tenantBySlug(o.tenant);
      const mint = await a.issueDsn(t.id, name);
      if (o.json) out(JSON.stringify(mint));
      else {
        // The key goes to stdout only: `export AUGUR_DSN="$(augur admin dsn-issue ...)"` keeps it off the terminal.
        process.stderr.write(`DSN ${mint.id} for client ${mint.client_name} in tenant ${t.slug} (shown once, on stdout): set it as AUGUR_DSN where the agent runs\n`);
        out(mint.dsn);
      }
    }),
  );

admin
  .command('dsn-revoke <id>')
  .action((id: string) =>
    withStores(async (s, a) => {
      const row = await a.revokeDsn(id);
      await new DsnCache(s.metadata, s.bus, createLogger('warn'), Date.now).broadcast({ dsnId: row.id });
      out(JSON.stringify({ id: row.id, revoked_at: new Date(row.revoked_at!).toISOString() }));
    }),
  );

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ApiError) process.stderr.write(`augur: ${err.message}\n`);
  else if (err instanceof ConflictError) process.stderr.write('augur: already exists\n');
  else process.stderr.write(`augur: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
