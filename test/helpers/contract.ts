/**
 * Holds recorded exchanges against Apiframe's own OpenAPI description (../shared/apiframe/openapi.json): every
 * request body the client sent must fit the operation's request schema, and every simulator answer the schema of its
 * status.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { RecordedExchange } from '../../src/simulator/server.js';

export const OPENAPI_PATH = fileURLToPath(new URL('../../../shared/apiframe/openapi.json', import.meta.url));

interface Operation {
  parameters?: { $ref?: string; in?: string; name?: string; schema?: unknown }[];
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}

export const openapi = JSON.parse(readFileSync(OPENAPI_PATH, 'utf8')) as {
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, unknown>;
    parameters: Record<string, { name: string; schema: unknown }>;
  };
};

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);
ajv.addFormat('binary', true);
ajv.addSchema({ ...openapi, $id: 'openapi.json' });

const validators = new Map<string, ReturnType<typeof ajv.compile>>();

function validatorFor(pointer: string) {
  let validate = validators.get(pointer);
  if (validate === undefined) {
    validate = ajv.compile({ $ref: `openapi.json#${pointer}` });
    validators.set(pointer, validate);
  }
  return validate;
}

function escapePointer(part: string): string {
  return part.replace(/~/g, '~0').replace(/\//g, '~1');
}

function findOperation(method: string, pathname: string): { template: string; op: Operation } | undefined {
  for (const [template, item] of Object.entries(openapi.paths)) {
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    const op = item[method.toLowerCase()];
    if (op !== undefined && pattern.test(pathname)) return { template, op };
  }
  return undefined;
}

/** Problems with one exchange, as readable strings; empty when it fits the spec. */
export function contractProblems(exchange: RecordedExchange): string[] {
  if (exchange.route === 'file' || exchange.route === 'control' || exchange.route === 'unknown') return [];
  const pathname = exchange.path.replace(/\?.*$/, '');
  const found = findOperation(exchange.method, pathname);
  if (found === undefined) return [`${exchange.method} ${pathname}: no such operation in openapi.json`];
  const problems: string[] = [];
  const base = `/paths/${escapePointer(found.template)}/${exchange.method.toLowerCase()}`;
  const label = `${exchange.method} ${pathname}`;
  if (
    exchange.requestBody !== undefined &&
    found.op.requestBody?.content?.['application/json'] !== undefined
  ) {
    const validate = validatorFor(`${base}/requestBody/content/application~1json/schema`);
    if (!validate(exchange.requestBody)) {
      problems.push(
        `${label} request: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(exchange.requestBody)}`,
      );
    }
  }
  if (exchange.idempotencyKey !== undefined) {
    const declared = (found.op.parameters ?? []).some(
      (p) => p.$ref === '#/components/parameters/IdempotencyKey',
    );
    const validate = validatorFor('/components/parameters/IdempotencyKey/schema');
    if (declared && !validate(exchange.idempotencyKey))
      problems.push(`${label} Idempotency-Key: ${ajv.errorsText(validate.errors)}`);
  }
  // A fault that spoils the answer (cut off, not JSON, never sent) is outside the contract on purpose.
  const spoiled = ['reset_before', 'reset_after', 'malformed', 'truncated'].includes(exchange.fault ?? '');
  if (exchange.status !== undefined && !spoiled) {
    const response = found.op.responses?.[String(exchange.status)];
    if (response === undefined && exchange.fault !== undefined && exchange.status >= 500) {
      // An injected outage on a route whose spec lists no 5xx still answers with the generic error envelope.
      const validate = validatorFor('/components/schemas/ErrorResponse');
      if (!validate(exchange.responseBody))
        problems.push(`${label} ${exchange.status}: ${ajv.errorsText(validate.errors)}`);
    } else if (response === undefined && exchange.status === 409 && exchange.route === 'submit') {
      // Not in the spec, but NOTES.md: Apiframe's SDK maps a 409 for a key replayed with a different body.
      const validate = validatorFor('/components/schemas/ErrorResponse');
      if (!validate(exchange.responseBody)) problems.push(`${label} 409: ${ajv.errorsText(validate.errors)}`);
    } else if (response === undefined) {
      problems.push(`${label} answered ${exchange.status}, which the spec does not list`);
    } else if (response.content?.['application/json'] !== undefined) {
      const validate = validatorFor(`${base}/responses/${exchange.status}/content/application~1json/schema`);
      if (!validate(exchange.responseBody)) {
        problems.push(
          `${label} ${exchange.status} response: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(exchange.responseBody)}`,
        );
      }
    }
  }
  return problems;
}

export function allContractProblems(exchanges: readonly RecordedExchange[]): string[] {
  return exchanges.flatMap(contractProblems);
}
