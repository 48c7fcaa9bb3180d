/** `init` and `doctor` as the command line runs them: the real environment, home, working folder and clock. */
import { currentPlatform } from '../app/config.js';
import { UsageError } from '../core/errors.js';
import { runDoctor } from './doctor.js';
import { type CommandContext, parseInitArgs, runInit } from './init.js';

export async function runCommand(name: 'init' | 'doctor', args: string[]): Promise<number> {
  const ctx: CommandContext = {
    where: currentPlatform(),
    cwd: process.cwd(),
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    now: () => new Date(),
  };
  if (name === 'doctor') {
    if (args.length > 0)
      throw new UsageError(`doctor takes no arguments, got: ${args.join(' ')}`, 'seedance-mcp doctor');
    return runDoctor(ctx);
  }
  await runInit(parseInitArgs(args), ctx);
  return 0;
}
