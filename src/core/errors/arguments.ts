/** Calls that cannot be made as given: nothing is sent upstream. */
import { SeedanceError } from './base.js';

/** One argument that fails the parameter model: the field as an agent writes it, and what is wrong with it. */
export interface FieldIssue {
  field: string;
  message: string;
}

/** Arguments that fail the parameter model: named per field, never sent upstream. */
export class InvalidArgumentsError extends SeedanceError {
  readonly issues: FieldIssue[];

  constructor(
    issues: FieldIssue[],
    recovery = 'Correct the named fields and call again; nothing was submitted.',
  ) {
    const list = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
    super('invalid_arguments', `Invalid arguments: ${list}`, { recovery, details: { issues } });
    this.issues = issues;
  }
}

/** A page cursor this server never handed out: the ledger says so, the advice is the paging contract's. */
export class InvalidCursorError extends InvalidArgumentsError {
  constructor() {
    super(
      [{ field: 'cursor', message: 'not a cursor this server returned' }],
      'Pass next_cursor from the previous page exactly, or leave cursor out for the first page.',
    );
  }
}

export class UnknownToolError extends SeedanceError {
  constructor(name: string, known: readonly string[]) {
    super('unknown_tool', `There is no tool "${name}".`, { recovery: `Use one of: ${known.join(', ')}.` });
  }
}
