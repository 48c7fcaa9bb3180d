/**
 * startHarness with the canary key, every answer shown to the Outbox, and every call that did not end in a proper
 * result (a thrown protocol error, an "internal" error) counted as a crash.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { type Harness, type HarnessOptions, startHarness, textOf } from '../helpers/mcp.js';
import { CANARY_KEY, type Outbox } from './canary.js';
import type { Figures } from './figures.js';

export interface ReliableHarness extends Harness {
  /** Calls a tool; a thrown error is recorded as a crash and returned as an isError result with its message. */
  call(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
  /** Faults the simulator injected so far. */
  faultsInjected(): number;
}

export async function reliableHarness(
  outbox: Outbox,
  figures: Figures,
  options: HarnessOptions = {},
): Promise<ReliableHarness> {
  const h = await startHarness({
    ...options,
    config: { apiKey: CANARY_KEY, ...options.config },
  });
  const call = async (name: string, args: Record<string, unknown>): Promise<CallToolResult> => {
    try {
      const result = await h.client.callTool({ name, arguments: args });
      outbox.see(result);
      if (textOf(result as CallToolResult).startsWith('Error (internal)')) figures.crashes += 1;
      return result as CallToolResult;
    } catch (error) {
      outbox.see(error);
      figures.crashes += 1;
      return {
        isError: true,
        content: [{ type: 'text', text: `CRASH: ${error instanceof Error ? error.message : String(error)}` }],
      };
    }
  };
  return {
    ...h,
    call,
    faultsInjected: () => [...h.sim.faults.injected.values()].reduce((a, b) => a + b, 0),
  };
}
