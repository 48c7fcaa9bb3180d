/** The two ledgers: a file shared by the user's processes (the product), and memory (simulation, tests). */
import { openFileStore } from './file-store.js';
import { type EventStore, ledgerOver } from './ledger.js';
import { LedgerState } from './state.js';
import type { Ledger, LedgerOptions } from './types.js';

export { LEDGER_FILE } from './file-store.js';

export async function openFileLedger(dir: string, options: LedgerOptions): Promise<Ledger> {
  return ledgerOver(await openFileStore(dir), options);
}

export function createMemoryLedger(options: LedgerOptions): Ledger {
  return ledgerOver(memoryStore(), options);
}

function memoryStore(): EventStore {
  const state = new LedgerState();
  return {
    transact: async (decide) => decide(state).value,
    read: async (look) => look(state),
    close: async () => undefined,
  };
}
