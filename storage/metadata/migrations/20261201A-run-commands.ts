import type { Knex } from 'knex';

/**
 * Intervention commands operators issue to live runs. `seq` numbers a run's commands from 1 and
 * is the poll cursor: it is allocated as max + 1 under the (tenant, run, seq) primary key, so a
 * command only becomes visible after every earlier one of its run (a poller never skips one).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('run_commands', (t) => {
    t.string('tenant_id', 36).notNullable().references('id').inTable('tenants');
    t.string('run_id', 200).notNullable();
    t.bigInteger('seq').notNullable();
    t.string('command_id', 36).notNullable().unique();
    t.string('type', 32).notNullable();
    t.text('payload');
    t.string('issued_by', 36).notNullable();
    t.string('issued_by_email', 320).notNullable();
    t.bigInteger('issued_at').notNullable();
    t.primary(['tenant_id', 'run_id', 'seq']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('run_commands');
}
