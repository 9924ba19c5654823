import type { Knex } from 'knex';

// Times are epoch milliseconds (bigint): one representation on SQLite and Postgres alike.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('tenants', (t) => {
    t.string('id', 36).primary();
    t.string('slug', 64).notNullable().unique();
    t.string('name', 200).notNullable();
    t.boolean('modelio_enabled').notNullable().defaultTo(false);
    t.bigInteger('created_at').notNullable();
  });
  await knex.schema.createTable('users', (t) => {
    t.string('id', 36).primary();
    t.string('email', 320).notNullable().unique();
    t.string('password_hash', 300).notNullable();
    t.string('tenant_id', 36).notNullable().references('id').inTable('tenants');
    t.boolean('is_admin').notNullable().defaultTo(false);
    t.bigInteger('created_at').notNullable();
  });
  await knex.schema.createTable('dsns', (t) => {
    t.string('id', 36).primary();
    t.string('tenant_id', 36).notNullable().references('id').inTable('tenants').index();
    t.string('client_name', 200).notNullable();
    t.string('key_prefix', 32).notNullable();
    t.string('key_hash', 64).notNullable().unique();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('last_used_at');
    t.bigInteger('revoked_at');
  });
  await knex.schema.createTable('sessions', (t) => {
    t.string('id', 36).primary();
    t.string('token_hash', 64).notNullable().unique();
    t.string('user_id', 36).notNullable().references('id').inTable('users').index();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable().index();
  });
  await knex.schema.createTable('read_tokens', (t) => {
    t.string('id', 36).primary();
    t.string('user_id', 36).notNullable().references('id').inTable('users').index();
    t.string('name', 200).notNullable();
    t.string('token_prefix', 32).notNullable();
    t.string('token_hash', 64).notNullable().unique();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at');
    t.bigInteger('last_used_at');
    t.bigInteger('revoked_at');
  });
  await knex.schema.createTable('runs', (t) => {
    t.string('tenant_id', 36).notNullable().references('id').inTable('tenants');
    t.string('run_id', 128).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.string('status', 64);
    t.string('agent', 200);
    t.text('task');
    t.integer('step_count').notNullable().defaultTo(0);
    t.boolean('has_manifest').notNullable().defaultTo(false);
    t.bigInteger('last_heartbeat_at');
    t.primary(['tenant_id', 'run_id']);
    // Newest-first keyset pagination reads this index alone.
    t.index(['tenant_id', 'created_at', 'run_id'], 'runs_tenant_created_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const t of ['runs', 'read_tokens', 'sessions', 'dsns', 'users', 'tenants']) await knex.schema.dropTableIfExists(t);
}
