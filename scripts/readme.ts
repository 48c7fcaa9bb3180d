/**
 * The README's generated sections: the tools (from the tool definitions, exactly as clients list them), the settings
 * (from src/app/config.ts) and the price table (from src/domain/pricing.ts). `npm run readme` rewrites them in place;
 * test/docs.test.ts fails when the README is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig, SETTINGS } from '../src/app/config.js';
import { MODELS, modelResolutions, type Resolution } from '../src/domain/params.js';
import { PUBLISHED_PRICES, VARIANTS } from '../src/domain/pricing.js';
import { toolListing } from '../src/mcp/server.js';
import { buildTools } from '../src/mcp/tools/index.js';

export const README_PATH = fileURLToPath(new URL('../README.md', import.meta.url));

/** The configuration a fresh install has: what the README documents. */
export function documentedConfig() {
  return loadConfig({ platform: 'linux', home: '/home/user', env: {} });
}

type JsonSchema = {
  type?: string | string[];
  enum?: unknown[];
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  minItems?: number;
  format?: string;
  items?: JsonSchema;
  $ref?: string;
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
};

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function typeOf(schema: JsonSchema): string {
  if (schema.enum !== undefined) return schema.enum.map((v) => `\`${JSON.stringify(v)}\``).join(', ');
  if (schema.$ref === '#') return 'object';
  if (schema.type === 'array') return `${typeOf(schema.items ?? {})}[]`;
  if (schema.anyOf !== undefined) return schema.anyOf.map(typeOf).join(' \\| ');
  if (schema.type === 'object' && schema.properties !== undefined) return 'object';
  return Array.isArray(schema.type) ? schema.type.join(' \\| ') : (schema.format ?? schema.type ?? 'any');
}

function limitsOf(schema: JsonSchema): string {
  const parts: string[] = [];
  if (schema.minimum !== undefined && schema.maximum !== undefined)
    parts.push(`${schema.minimum}..${schema.maximum}`);
  else if (schema.minimum !== undefined) parts.push(`>= ${schema.minimum}`);
  else if (schema.maximum !== undefined) parts.push(`<= ${schema.maximum}`);
  if (schema.minLength !== undefined || schema.maxLength !== undefined)
    parts.push(`${schema.minLength ?? 0}..${schema.maxLength ?? '∞'} chars`);
  if (schema.minItems !== undefined || schema.maxItems !== undefined)
    parts.push(`${schema.minItems ?? 0}..${schema.maxItems ?? '∞'} items`);
  return parts.join(', ');
}

export function renderTools(): string {
  const tools = toolListing(buildTools(documentedConfig()));
  const out: string[] = [];
  // A field described once, in an earlier tool, is described again here: a table is read alone.
  const described = new Map<string, string>();
  for (const tool of tools) {
    const hints = tool.annotations ?? {};
    const flags = [
      hints.readOnlyHint ? 'read-only' : 'writes',
      hints.idempotentHint ? 'idempotent' : 'not idempotent',
      hints.openWorldHint ? 'calls Apiframe' : 'local',
    ].join(', ');
    out.push(`### \`${tool.name}\`: ${tool.title ?? ''}`, '', tool.description ?? '', '', `*${flags}*`, '');
    const schema = tool.inputSchema as JsonSchema;
    const required = new Set(schema.required ?? []);
    out.push('| parameter | type | default | limits | description |', '|---|---|---|---|---|');
    for (const [name, prop] of Object.entries(schema.properties ?? {})) {
      const description = prop.description ?? described.get(name) ?? '';
      if (prop.description !== undefined && !described.has(name)) described.set(name, prop.description);
      const fallback =
        prop.default === undefined
          ? required.has(name)
            ? '*required*'
            : ''
          : `\`${JSON.stringify(prop.default)}\``;
      out.push(
        `| \`${name}\` | ${cell(typeOf(prop))} | ${cell(fallback)} | ${cell(limitsOf(prop))} | ${cell(description)} |`,
      );
    }
    const output = tool.outputSchema as JsonSchema | undefined;
    if (output?.properties !== undefined) {
      out.push(
        '',
        `Result fields: ${Object.keys(output.properties)
          .map((k) => `\`${k}\``)
          .join(', ')}.`,
      );
    }
    out.push('');
  }
  return out.join('\n').trimEnd();
}

export function renderSettings(): string {
  const rows = Object.values(SETTINGS).map(
    (s) => `| \`${s.name}\` | ${cell(s.defaultText)} | ${cell(s.description)} |`,
  );
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

/**
 * Credits per second by model and variant: the published rate, "learned" where none is published (bounded by
 * max_credits until the first charge), and a dash where the model does not make the resolution.
 */
export function renderPrices(): string {
  const header = `| model | ${VARIANTS.join(' | ')} |`;
  const rule = `|---|${VARIANTS.map(() => '---').join('|')}|`;
  const rows = MODELS.map((model) => {
    const cells = VARIANTS.map((variant) => {
      const resolution = variant.replace('-refvid', '') as Resolution;
      if (!modelResolutions(model).includes(resolution)) return '-';
      return String(PUBLISHED_PRICES[model]?.[variant] ?? 'learned');
    });
    return `| \`${model}\` | ${cells.join(' | ')} |`;
  });
  return [header, rule, ...rows].join('\n');
}

export const SECTIONS = { tools: renderTools, settings: renderSettings, prices: renderPrices } as const;

export function renderReadme(current: string): string {
  let text = current;
  for (const [name, render] of Object.entries(SECTIONS)) {
    const pattern = new RegExp(`(<!-- ${name}:start -->\\n)[\\s\\S]*?(<!-- ${name}:end -->)`);
    if (!pattern.test(text)) throw new Error(`README.md has no ${name} section markers`);
    text = text.replace(pattern, (_m, start: string, end: string) => `${start}${render()}\n${end}`);
  }
  return text;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const current = readFileSync(README_PATH, 'utf8');
  const next = renderReadme(current);
  if (next !== current) writeFileSync(README_PATH, next);
  process.stderr.write(next === current ? 'README.md is up to date\n' : 'README.md updated\n');
}
