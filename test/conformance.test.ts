/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance, server mode) against the built binary in
 * HTTP mode. It needs Node 22 or later, so it runs on the Node the project pins (node_modules/.bin/node), whatever
 * Node runs the tests. Every scenario that applies to this server must pass; the others are listed, each with its
 * reason, in conformance-baseline.yml, and the suite fails the run if one of them starts to pass.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useHttpBinary } from './helpers/http.js';
import { useTempDirs } from './helpers/temp.js';

const tempDir = useTempDirs();

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PINNED_NODE = join(ROOT, 'node_modules', '.bin', 'node');
const SUITE = join(ROOT, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
const BASELINE = join(ROOT, 'test', 'conformance-baseline.yml');

/** The scenarios that test what this server is, not the reference server's fixtures. */
const APPLICABLE = [
  'server-initialize',
  'ping',
  'tools-list',
  'resources-list',
  'server-sse-multiple-streams',
  'dns-rebinding-protection',
  'logging-set-level',
];

describe('the MCP conformance suite against seedance-mcp --http', () => {
  const start = useHttpBinary();

  it('passes every applicable scenario; the rest fail only as the baseline says', async () => {
    // The suite opens a session per scenario and never closes one.
    const server = await start({ SEEDANCE_HTTP_MAX_SESSIONS: '1000' }, ['--simulate']);
    const output = await tempDir('seedance-conformance-');
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      execFile(
        PINNED_NODE,
        [SUITE, 'server', '--url', server.url, '--expected-failures', BASELINE, '--output-dir', output],
        {
          cwd: output,
          env: { ...process.env, PATH: `${join(ROOT, 'node_modules', '.bin')}:${process.env.PATH}` },
        },
        (error, out) =>
          resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? 1), stdout: out }),
      );
    });
    const summary = stdout.slice(stdout.indexOf('=== SUMMARY ==='));
    expect(code, summary).toBe(0);
    for (const scenario of APPLICABLE)
      expect(summary).toMatch(new RegExp(`✓ ${scenario}: \\d+ passed, 0 failed`));
  }, 120_000);
});
