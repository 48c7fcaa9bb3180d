/**
 * dist/cli.js: checks the Node version, then loads the server (dist/server.js). The server's bundle imports
 * node:sqlite statically, and an older Node fails that at link time with a stack trace; this says instead, in one line,
 * which Node is needed. It imports only core/node-version.ts (bundled in, itself import-free), so any Node runs it.
 */

import module from 'node:module';
import { atLeast } from './core/node-version.js';

/** From package.json's `engines` at build time (scripts/build.mjs). */
declare const REQUIRED_NODE: string;

function tooOld(): never {
  process.stderr.write(
    `seedance-mcp: needs Node.js ${REQUIRED_NODE} or later (for node:sqlite); this is Node.js ${process.versions.node}. Install a current Node.js LTS from https://nodejs.org and start it again.\n`,
  );
  process.exit(1);
}

if (!atLeast(process.versions.node, REQUIRED_NODE)) tooOld();

// Node 22 announces node:sqlite as experimental on stderr at every start: noise in an MCP host's log, so that one
// warning is dropped; every other warning is printed as usual.
const emitWarning = process.emitWarning;
process.emitWarning = function emitUnlessSqlite(this: unknown, warning: string | Error, ...rest: unknown[]) {
  const text = typeof warning === 'string' ? warning : warning.message;
  if (text.startsWith('SQLite is an experimental feature')) return;
  Reflect.apply(emitWarning, process, [warning, ...rest]);
} as typeof process.emitWarning;

// The bundle is large (the SDK, zod, the media and database clients): Node's on-disk compile cache (22.1+) spares
// every start after the first from compiling it again. Where the cache cannot be written, Node just compiles.
module.enableCompileCache?.();

/** Beside this file in dist/; a name in a variable, so that the bundler leaves the import to run time. */
const server = './server.js';
try {
  await import(server);
} catch (error) {
  // Node 23.0 to 23.3 pass the version check but keep node:sqlite behind a flag.
  if ((error as { code?: string }).code === 'ERR_UNKNOWN_BUILTIN_MODULE') tooOld();
  throw error;
}
