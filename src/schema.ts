/**
 * zod 4 schemas as the JSON Schema MCP clients read (draft 2020-12, zod's own z.toJSONSchema: the same converter the
 * MCP SDK uses for zod 4; zod-to-json-schema 3.25 emits an empty schema for zod 4 objects). Bounds that only say "a
 * safe integer" are dropped: they carry no meaning for a model and cost bytes in every prompt.
 */
import * as z from 'zod';

export type JsonSchema = Record<string, unknown> & { type: 'object' };

export function toJsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const json = z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
    override: ({ jsonSchema }) => {
      if (jsonSchema.minimum === Number.MIN_SAFE_INTEGER) delete jsonSchema.minimum;
      if (jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete jsonSchema.maximum;
    },
  }) as Record<string, unknown>;
  delete json.$schema;
  if (json.type !== 'object') throw new Error('a tool schema must describe an object');
  return json as JsonSchema;
}
