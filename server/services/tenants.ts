import { randomUUID } from 'node:crypto';
import type { Config } from '../config.js';
import { ApiError } from '../errors.js';
import type { Logger } from '../logger.js';
import { ConflictError, type Dsn, type MetadataStore, type Tenant, type User } from '../../storage/metadata/index.js';
import { iso } from './time.js';
import { buildDsn, dsnExportLine, generatePassword, hashPassword, mintDsnKey } from './credentials.js';

export const SLUG_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface DsnMint {
  id: string;
  dsn: string;
  /** `export AUGUR_DSN='<dsn>'`, ready to paste into the agent's shell. */
  export: string;
  api_key: string;
  client_name: string;
  key_prefix: string;
  tenant_id: string;
  created_at: string;
}

/** Tenant, user and DSN administration shared by the CLI, first start and the HTTP API. */
export class TenantAdmin {
  constructor(
    private readonly metadata: MetadataStore,
    private readonly config: Pick<Config, 'publicUrl' | 'scryptLogN'>,
  ) {}

  async createTenant(slug: string, opts: { name?: string; modelio?: boolean } = {}): Promise<Tenant> {
    if (!SLUG_RE.test(slug)) throw new ApiError('validation_failed', `tenant slug must match ${SLUG_RE.source}`);
    return this.metadata.createTenant({ id: randomUUID(), slug, name: opts.name ?? slug, modelio_enabled: opts.modelio ?? false });
  }

  async tenantBySlug(slug: string): Promise<Tenant> {
    const t = await this.metadata.getTenantBySlug(slug);
    if (!t) throw new ApiError('not_found', `no tenant ${JSON.stringify(slug)}`);
    return t;
  }

  async updateTenant(slug: string, patch: { modelio?: boolean; name?: string }): Promise<Tenant> {
    const t = await this.tenantBySlug(slug);
    const updated = await this.metadata.updateTenant(t.id, {
      ...(patch.modelio !== undefined ? { modelio_enabled: patch.modelio } : {}),
      ...(patch.name !== undefined ? { name: patch.name } : {}),
    });
    return updated!;
  }

  async createUser(email: string, password: string, tenantSlug: string, isAdmin = false): Promise<User> {
    if (!/^[^\s@]+@[^\s@]+$/.test(email)) throw new ApiError('validation_failed', 'not an email address');
    if (password.length < 8) throw new ApiError('validation_failed', 'password: use at least 8 characters');
    const tenant = await this.tenantBySlug(tenantSlug);
    const password_hash = await hashPassword(password, this.config.scryptLogN);
    return this.metadata.createUser({ id: randomUUID(), email, password_hash, tenant_id: tenant.id, is_admin: isAdmin });
  }

  /** Mints a DSN: the key is returned here once and stored only as a hash. */
  async issueDsn(tenantId: string, clientName: string): Promise<DsnMint> {
    const tenant = await this.metadata.getTenant(tenantId);
    if (!tenant) throw new ApiError('not_found', 'No such tenant');
    const key = mintDsnKey();
    const row = await this.metadata.createDsn({ id: randomUUID(), tenant_id: tenantId, client_name: clientName, key_prefix: key.prefix, key_hash: key.hash });
    const dsn = buildDsn(this.config.publicUrl, key.secret, tenant.slug);
    return {
      id: row.id,
      dsn,
      export: dsnExportLine(dsn),
      api_key: key.secret,
      client_name: row.client_name,
      key_prefix: row.key_prefix,
      tenant_id: row.tenant_id,
      created_at: iso(row.created_at),
    };
  }

  async revokeDsn(id: string, tenantId?: string): Promise<Dsn> {
    const row = await this.metadata.revokeDsn(id, tenantId);
    if (!row) throw new ApiError('not_found', 'No such DSN');
    return row;
  }

  /**
   * First start on an empty database: tenant `default` and an admin user. Replicas starting
   * together race here; the losers see a conflict and leave the winner's rows alone.
   */
  async bootstrap(opts: { adminEmail?: string; adminPassword?: string }, logger: Logger, announce: (text: string) => void): Promise<void> {
    if ((await this.metadata.countTenants()) > 0) return;
    try {
      await this.createTenant('default', { name: 'Default' });
    } catch (err) {
      if (err instanceof ConflictError) return;
      throw err;
    }
    const email = opts.adminEmail ?? 'admin@localhost';
    const password = opts.adminPassword ?? generatePassword();
    try {
      await this.createUser(email, password, 'default', true);
    } catch (err) {
      if (err instanceof ConflictError) return;
      throw err;
    }
    // A first DSN too, so the first message holds everything an agent needs to stream here.
    const mint = await this.issueDsn((await this.tenantBySlug('default')).id, 'default');
    logger.info({ email, tenant: 'default', dsn_id: mint.id, key_prefix: mint.key_prefix }, 'first start: created tenant "default", its admin user and a DSN');
    const credentials = opts.adminPassword
      ? `admin user ${email} created (password from AUGUR_ADMIN_PASSWORD).`
      : `admin user ${email} created with password\n\n      ${password}\n\n  It is shown only this once. Set AUGUR_ADMIN_EMAIL / AUGUR_ADMIN_PASSWORD to choose them.`;
    announce(
      `\n  Augur first start: ${credentials}\n\n  Point an agent here (this DSN is shown only this once; mint more with augur admin dsn-issue):\n\n      ${mint.export}\n\n`,
    );
  }
}
