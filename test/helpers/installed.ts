/**
 * An installed seedance-mcp (from the npm tarball or the .mcpb), started the way a client starts it and asked for a
 * simulated video: what a user gets, end to end.
 */
import { stat } from 'node:fs/promises';
import { delimiter, dirname } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { VideoOutput } from '../../src/mcp/tools/shapes.js';
import { structuredOf } from './mcp.js';

/** PATH with the Node running the tests first: `node` and `#!/usr/bin/env node` resolve to it, as on a user's PATH. */
export const PATH_WITH_THIS_NODE = [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter);

export interface Started {
  client: Client;
  stderr: string[];
}

export async function startInstalled(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<Started> {
  const transport = new StdioClientTransport({
    command,
    args,
    env: { PATH: PATH_WITH_THIS_NODE, ...env },
    stderr: 'pipe',
  });
  const stderr: string[] = [];
  transport.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const client = new Client({ name: 'install-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, stderr };
}

/** Asks for a 4 s video and returns its output, after checking that a non-empty file was saved. */
export async function makeVideo(client: Client): Promise<VideoOutput> {
  const result = (await client.callTool({
    name: 'generate_video',
    arguments: { prompt: 'a kite over a beach, installed as a user would', duration: 4 },
  })) as CallToolResult;
  const out = structuredOf<VideoOutput>(result);
  const path = out.video?.path;
  if (path === undefined) throw new Error(`no video in the result: ${JSON.stringify(result)}`);
  const size = (await stat(path)).size;
  if (size === 0) throw new Error(`${path} is empty`);
  return out;
}
