// Bundles the CLI into one ESM file (dist/server.js), so the binary starts without resolving hundreds of modules, and
// puts before it the launcher (dist/cli.js) that names the Node version needed on a Node too old to load the bundle.
import { chmod, readFile } from 'node:fs/promises';
import { build } from 'esbuild';

const pkg = JSON.parse(await readFile('package.json', 'utf8'));
const requiredNode = /^>=(\d+\.\d+(?:\.\d+)?)$/.exec(pkg.engines.node)?.[1];
if (requiredNode === undefined) throw new Error(`engines.node must read ">=X.Y", not ${pkg.engines.node}`);

/**
 * The SDK's Server builds an Ajv validator (Ajv, its formats and fast-uri: a fifth of the bundle, and time at every
 * start) for elicitation, which seedance-mcp never uses; src/mcp/server.ts passes its own validator instead. This keeps
 * the default one out of the bundle, so that start-up neither compiles nor runs it.
 */
const noAjv = {
  name: 'no-ajv',
  setup(b) {
    b.onResolve({ filter: /validation\/ajv-provider\.js$/ }, (args) =>
      args.importer.includes('/sdk/dist/esm/server/')
        ? { path: 'ajv-provider', namespace: 'no-ajv' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'no-ajv' }, () => ({
      contents:
        "export class AjvJsonSchemaValidator { constructor() { throw new Error('seedance-mcp passes its own jsonSchemaValidator'); } }",
      loader: 'js',
    }));
  },
};

await build({
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/server.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  // CommonJS dependencies call require() for Node built-ins; an ESM bundle has to provide it.
  banner: {
    js: "import { createRequire as __seedanceRequire } from 'node:module';\nconst require = __seedanceRequire(import.meta.url);",
  },
  logLevel: 'warning',
  plugins: [noAjv],
});
await build({
  entryPoints: ['src/launcher.ts'],
  outfile: 'dist/cli.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  // Whatever Node a user has must parse it, to be told which one to install.
  target: 'node14.8',
  define: { REQUIRED_NODE: JSON.stringify(requiredNode) },
  banner: { js: '#!/usr/bin/env node' },
  legalComments: 'none',
  logLevel: 'warning',
});
await chmod('dist/cli.js', 0o755);
