// One PostgreSQL server for the whole run (initdb once), unless SEEDANCE_TEST_POSTGRES_URL names one to use.
import type { TestProject } from 'vitest/node';
import { startPostgres } from './postgres-server.js';

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = process.env.SEEDANCE_TEST_POSTGRES_URL;
  if (given !== undefined && given !== '') {
    project.provide('postgresUrl', given);
    return undefined;
  }
  const server = await startPostgres();
  project.provide('postgresUrl', server.url);
  return () => server.stop();
}
