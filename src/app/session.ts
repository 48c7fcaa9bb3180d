/**
 * What belongs to one MCP session rather than to the process: who is calling (the member, over HTTP), which
 * transport carries the session (errors are worded for it), and where local files may be read for it. The process
 * side (prices, ledger, job feed, simulator) is the App, shared by every session.
 */
import type { MemberScope } from '../ledger/types.js';

export type TransportKind = 'stdio' | 'http';

export interface Session {
  transport: TransportKind;
  /** Undefined when the caller is the machine's owner (stdio, or HTTP on loopback without tokens). */
  member: MemberScope | undefined;
  /** Real paths of the folders local files may be read from; empty: local paths are refused. */
  allowedDirs: readonly string[];
  /**
   * Whether the client's MCP roots narrow the allowed folders: they name folders of the client's machine, which is
   * this machine only over stdio.
   */
  useClientRoots: boolean;
  /** A link the client can download a result file from (HTTP), or undefined where the path itself serves (stdio). */
  linkFile?: (path: string) => string | undefined;
}

/** The one session of a stdio server: the machine's owner, the configured folders, the client's roots. */
export function stdioSession(allowedDirs: readonly string[]): Session {
  return { transport: 'stdio', member: undefined, allowedDirs, useClientRoots: true };
}
