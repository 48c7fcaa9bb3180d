/**
 * The ledgers: SQLite on a file shared by the user's processes (the product), and the same in memory, held by one
 * process alone (simulation, tests). One implementation, so what the tests prove of one holds for the other.
 */
import { IN_MEMORY, openSqliteLedger } from './sqlite.js';
import type { Ledger, LedgerOptions } from './types.js';

export {
  LEDGER_FILE,
  LedgerSchemaTooNewError,
  openSqliteLedger,
  type SqliteLedgerOptions,
} from './sqlite.js';

export function createMemoryLedger(options: LedgerOptions): Ledger {
  return openSqliteLedger(IN_MEMORY, options);
}
