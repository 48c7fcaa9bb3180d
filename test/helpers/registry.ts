/** server.json checked as the MCP registry checks it: against its JSON Schema, kept in schemas/ (draft-07). */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';

export const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

export const SERVER_SCHEMA = readJson(new URL('../../schemas/server.schema.json', import.meta.url).pathname);

/** The schema's complaints about a server.json, one line each; none when it is valid. */
export function validateServerJson(serverJson: unknown): string[] {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  const validate = ajv.compile(SERVER_SCHEMA);
  return validate(serverJson) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}
