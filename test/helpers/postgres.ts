/**
 * What the tests use of the run's PostgreSQL: a database of their own (the server itself: postgres-server.ts).
 */
import { inject } from 'vitest';
import { createDatabase, withClient } from './postgres-server.js';

export { type PostgresServer, startPostgres, withClient } from './postgres-server.js';

/**
 * A database of its own for the calling test file, on the run's server (test/helpers/postgres-setup.ts) or on
 * SEEDANCE_TEST_POSTGRES_URL; dropped with `drop()`.
 */
export async function testDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = inject('postgresUrl');
  const name = `seedance_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const url = await createDatabase(adminUrl, name);
  return {
    url,
    drop: async () => {
      await withClient(adminUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** A URL on which the tests may create databases. */
    postgresUrl: string;
  }
}
