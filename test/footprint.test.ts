/**
 * What every prompt pays for: the tools/list answer stays within 8 KB, and trimming it never drops a limit, default
 * or enum from an input schema (only words said elsewhere).
 */
import { describe, expect, it } from 'vitest';
import { documentedConfig } from '../scripts/readme.js';
import { toJsonSchema } from '../src/core/json-schema.js';
import { toolListing } from '../src/mcp/server.js';
import { buildTools } from '../src/mcp/tools/index.js';

type Schema = Record<string, unknown>;

/** A schema without its words: what a validator (or a model planning a call) reads. */
function withoutDescriptions(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutDescriptions);
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([key]) => key !== 'description')
      .map(([key, value]) => [key, withoutDescriptions(value)]),
  );
}

describe('tools/list footprint', () => {
  const tools = buildTools(documentedConfig());
  const listing = toolListing(tools);

  it('answers in at most 8 KB, JSON-RPC envelope included', () => {
    const answer = JSON.stringify({ result: { tools: listing }, jsonrpc: '2.0', id: 1 });
    expect(Buffer.byteLength(answer)).toBeLessThanOrEqual(8 * 1024);
  });

  it('keeps every limit, default and enum of the zod model in the input schemas', () => {
    for (const tool of tools) {
      const published = listing.find((t) => t.name === tool.name)?.inputSchema as Schema;
      const full = toJsonSchema(tool.input, 'input');
      if (tool.name === 'estimate_cost') {
        // The plan's items are the top level's fields, which state them once, with all their bounds.
        const props = published.properties as Record<string, Schema>;
        expect(props.videos?.items).toEqual({ type: 'object' });
        const fullVideos = (full.properties as Record<string, Schema>).videos as Schema;
        const item = withoutDescriptions(fullVideos.items) as Schema;
        const top = withoutDescriptions(published) as Schema;
        const topProps = { ...(top.properties as Record<string, Schema>) };
        delete topProps.videos;
        expect({ ...top, properties: topProps }).toMatchObject(item);
        expect(withoutDescriptions({ ...published, properties: { ...props, videos: fullVideos } })).toEqual(
          withoutDescriptions(full),
        );
        continue;
      }
      expect(withoutDescriptions(published), tool.name).toEqual(withoutDescriptions(full));
    }
  });

  it('says each field description once across the tools', () => {
    const seen = new Map<string, string>();
    for (const tool of listing) {
      for (const [name, prop] of Object.entries(tool.inputSchema.properties ?? {})) {
        const description = (prop as Schema).description;
        if (typeof description !== 'string') continue;
        expect(
          seen.get(description),
          `${tool.name}.${name} repeats ${seen.get(description)}`,
        ).toBeUndefined();
        seen.set(description, `${tool.name}.${name}`);
      }
    }
  });
});
