/**
 * zod 4 schemas as the JSON Schema MCP clients read (draft 2020-12, zod's own z.toJSONSchema: the same converter the
 * MCP SDK uses for zod 4; zod-to-json-schema 3.25 emits an empty schema for zod 4 objects). Bounds that only say "a
 * safe integer" are dropped: they carry no meaning for a model and cost bytes in every prompt.
 */
import * as z from 'zod';

export type JsonSchema = Record<string, unknown> & { type: 'object' };
type Node = Record<string, unknown>;

export function toJsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const json = z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
    override: ({ jsonSchema }) => {
      if (jsonSchema.minimum === Number.MIN_SAFE_INTEGER) delete jsonSchema.minimum;
      if (jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete jsonSchema.maximum;
      // `format: uuid` says it; zod also spells the pattern out, in 200 bytes.
      if (jsonSchema.format === 'uuid') delete jsonSchema.pattern;
    },
  }) as Record<string, unknown>;
  delete json.$schema;
  if (json.type !== 'object') throw new Error('a tool schema must describe an object');
  return json as JsonSchema;
}

/**
 * An output schema as tools/list carries it, read by the model in every prompt: the result's fields and their types;
 * objects inside it are just objects, and nothing is said that the result itself shows (descriptions, which fields are
 * always there and that there are no others, which values a string takes). Only ever looser than the zod model, so every result the tool returns
 * still validates against it.
 */
export function toOutputJsonSchema(schema: z.ZodType): JsonSchema {
  return lean(toJsonSchema(schema, 'output'), 0) as JsonSchema;
}

/** Said by the result itself, or only narrowing what the types already say. */
const OMITTED = new Set(['description', 'required', 'additionalProperties', 'propertyNames', 'enum']);

function lean(node: Node, depth: number): Node {
  const nullable = nullableBranch(node);
  if (nullable !== undefined) {
    const inner = lean(nullable, depth);
    if (typeof inner.type !== 'string') return { anyOf: [inner, { type: 'null' }] };
    return { ...inner, type: [inner.type, 'null'] };
  }
  const out: Node = {};
  for (const [key, value] of Object.entries(node)) {
    if (OMITTED.has(key)) continue;
    if (key === 'properties') {
      if (depth > 0) continue;
      out.properties = Object.fromEntries(
        Object.entries(value as Record<string, Node>).map(([name, prop]) => [name, lean(prop, depth + 1)]),
      );
    } else if (key === 'items') {
      const items = lean(value as Node, depth + 1);
      if (items.type !== 'object') out.items = items;
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** The non-null branch of `anyOf: [X, {type: "null"}]`, as zod writes a nullable object. */
function nullableBranch(node: Node): Node | undefined {
  const anyOf = node.anyOf as Node[] | undefined;
  if (anyOf?.length !== 2) return undefined;
  const [a, b] = anyOf;
  if (b?.type === 'null' && a !== undefined) return a;
  if (a?.type === 'null' && b !== undefined) return b;
  return undefined;
}
