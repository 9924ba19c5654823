import type { Knex } from 'knex';

/**
 * The run index holds what the SDK sends: client name and version (`client`, replacing the old
 * `agent` column, which no SDK fills), capture mode, ids, the group links, tags and costs (JSON
 * text, read back whole), session times and the iteration count. Run ids grow to 200 characters.
 */
export async function up(knex: Knex): Promise<void> {
  const pg = knex.client.config.client === 'pg';
  await knex.schema.alterTable('runs', (t) => {
    t.string('client_name', 200);
    t.string('client_version', 100);
    t.string('capture_mode', 64);
    t.string('debug_session_id', 200);
    t.string('trajectory_fingerprint', 200);
    t.string('group_id', 200);
    t.string('parent_run_id', 200);
    t.text('tags');
    t.text('costs');
    // costs.total_usd again, as a number: parents sum it over their children in SQL.
    t.double('total_usd');
    t.bigInteger('started_at');
    t.bigInteger('ended_at');
    t.integer('extra_iterations').notNullable().defaultTo(0);
    t.index(['tenant_id', 'parent_run_id'], 'runs_tenant_parent_idx');
    t.index(['tenant_id', 'group_id'], 'runs_tenant_group_idx');
    t.index(['tenant_id', 'trajectory_fingerprint'], 'runs_tenant_fingerprint_idx');
  });
  // Session statuses are the SDK's five from now on: the old "aborted" is the SDK's "cancelled",
  // anything else was never an SDK status.
  await knex('runs').where('status', 'aborted').update({ status: 'cancelled' });
  await knex('runs').whereNotIn('status', ['running', 'succeeded', 'failed', 'cancelled', 'halted']).update({ status: null });
  // SQLite drops a plain column in place (3.35+); its varchar lengths are not enforced.
  await knex.raw('alter table runs drop column agent');
  if (pg) await knex.raw('alter table runs alter column run_id type varchar(200)');
}

export async function down(knex: Knex): Promise<void> {
  const pg = knex.client.config.client === 'pg';
  await knex.schema.alterTable('runs', (t) => {
    t.dropIndex(['tenant_id', 'parent_run_id'], 'runs_tenant_parent_idx');
    t.dropIndex(['tenant_id', 'group_id'], 'runs_tenant_group_idx');
    t.dropIndex(['tenant_id', 'trajectory_fingerprint'], 'runs_tenant_fingerprint_idx');
  });
  for (const c of ['client_name', 'client_version', 'capture_mode', 'debug_session_id', 'trajectory_fingerprint', 'group_id', 'parent_run_id', 'tags', 'costs', 'total_usd', 'started_at', 'ended_at', 'extra_iterations']) {
    await knex.raw(`alter table runs drop column ${c}`);
  }
  await knex.schema.alterTable('runs', (t) => t.string('agent', 200));
  if (pg) await knex.raw('alter table runs alter column run_id type varchar(128)');
}
