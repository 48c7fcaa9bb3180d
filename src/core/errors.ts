/**
 * The typed errors, one file per family in core/errors/ (base.ts holds SeedanceError, the codes and the advice
 * written once); importers take them from here.
 */
export * from './errors/arguments.js';
export * from './errors/assets.js';
export * from './errors/base.js';
export * from './errors/calls.js';
export * from './errors/files.js';
export * from './errors/jobs.js';
export * from './errors/ledger.js';
export * from './errors/setup.js';
export * from './errors/spending.js';
export * from './errors/upstream.js';
