import { closeStores, openStores } from '../../server/bootstrap.js';
import { loadConfig } from '../../server/config.js';
import { createLogger } from '../../server/logger.js';
import { TenantAdmin } from '../../server/services/tenants.js';

/**
 * DSN keys of new tenants, one per slug, minted straight in the stores `env` configures before the
 * benchmark's server starts (no sign-in round trip); the stores are closed again.
 */
export async function mintKeys(env: Record<string, string>, slugs: readonly string[], opts: { modelio?: boolean } = {}): Promise<string[]> {
  const config = loadConfig(env);
  const stores = await openStores(config, createLogger('silent'));
  try {
    const admin = new TenantAdmin(stores.metadata, config);
    const keys: string[] = [];
    for (const slug of slugs) keys.push((await admin.issueDsn((await admin.createTenant(slug, opts)).id, slug)).api_key);
    return keys;
  } finally {
    await closeStores(stores);
  }
}
