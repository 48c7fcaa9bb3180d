// Bundles the CLI into one ESM file, so the binary starts without resolving hundreds of modules.
import { chmod } from 'node:fs/promises';
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/cli.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  // CommonJS dependencies call require() for Node built-ins; an ESM bundle has to provide it.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __seedanceRequire } from 'node:module';\nconst require = __seedanceRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
await chmod('dist/cli.js', 0o755);
