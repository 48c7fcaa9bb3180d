/**
 * The layer list of docs/layers.json, and what it must agree with: the top-level entries of src/ and the diagram of
 * docs/ARCHITECTURE.md. Read by .dependency-cruiser.mjs (so `npm run check` fails on drift) and by the tests.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

/** @returns {import("./layers.d.mts").Layers} */
export function readLayers(root = ROOT) {
  return JSON.parse(readFileSync(join(root, 'docs/layers.json'), 'utf8'));
}

/** Every layer and beside-folder name, in the order the diagram shows them. */
export function layerNames(layers) {
  return [...layers.stack, ...Object.keys(layers.beside)];
}

/** The entries the diagram names: the first word of each line of the first code block that starts with a space. */
export function diagramEntries(markdown) {
  const block = /```\n([\s\S]*?)```/.exec(markdown)?.[1] ?? '';
  return block
    .split('\n')
    .map((line) => /^ ([a-z][\w.-]*\/?)\s/.exec(line)?.[1])
    .filter((name) => name !== undefined)
    .map((name) => name.replace(/\/$/, ''));
}

/** Where the page, src/ and the list disagree; empty when they agree. */
export function layerDrift(root = ROOT) {
  const names = layerNames(readLayers(root));
  const problems = [];
  const page = diagramEntries(readFileSync(join(root, 'docs/ARCHITECTURE.md'), 'utf8'));
  if (page.join(' ') !== names.join(' '))
    problems.push(
      `docs/ARCHITECTURE.md shows [${page.join(', ')}], docs/layers.json lists [${names.join(', ')}]`,
    );
  const src = readdirSync(join(root, 'src')).sort();
  if (src.join(' ') !== [...names].sort().join(' '))
    problems.push(`src/ holds [${src.join(', ')}], docs/layers.json lists [${names.join(', ')}]`);
  return problems;
}

const literal = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A path pattern for src/ entries: a folder and everything in it, or one file. */
const under = (entries) =>
  `^src/(${entries.map((e) => (e.endsWith('.ts') ? literal(e) : `${literal(e)}/`)).join('|')})`;

/** dependency-cruiser `forbidden` rules: each layer imports only its own and those above; no cycles. */
export function dependencyRules(layers) {
  const rules = [];
  layers.stack.forEach((layer, i) => {
    const below = layers.stack.slice(i + 1);
    if (below.length === 0) return;
    rules.push({
      name: `layer-${layer}`,
      comment: `${layer} may import only its own layer and those above it (docs/layers.json)`,
      severity: 'error',
      from: { path: under([layer]) },
      to: { path: under(below) },
    });
  });
  for (const [folder, { imports, importedBy }] of Object.entries(layers.beside)) {
    rules.push({
      name: `beside-${folder}`,
      comment: `${folder} stands beside the stack: it may import only ${imports.join(', ')} (docs/layers.json)`,
      severity: 'error',
      from: { path: under([folder]) },
      to: { path: '^src/', pathNot: under([folder, ...imports]) },
    });
    rules.push({
      name: `into-${folder}`,
      comment: `only ${importedBy.join(', ')} may import ${folder} (docs/layers.json)`,
      severity: 'error',
      from: { path: '^src/', pathNot: under([folder, ...importedBy]) },
      to: { path: under([folder]) },
    });
  }
  rules.push({ name: 'no-cycles', severity: 'error', from: {}, to: { circular: true } });
  return rules;
}
