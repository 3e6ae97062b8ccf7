/**
 * The `bulwark` command: thin, every subcommand calls core or ops. Errors print one line
 * "bulwark: ..." and exit non-zero (1 for a refused operation, 2 for bad usage or
 * configuration, 75 (EX_TEMPFAIL) for a temporary failure worth retrying).
 */
import { Command, CommanderError } from 'commander';
import { registerDirectory } from './directory.ts';
import { registerOps } from './ops.ts';
import { registerQueue } from './queue.ts';
import { registerBlocks } from './blocks.ts';
import { DomainError } from '../core/errors.ts';
import { bulwarkVersion } from '../ops/version.ts';

export function buildProgram(): Command {
  const program = new Command('bulwark')
    .description('Bulwark groupware server')
    .version(bulwarkVersion())
    .option('--data <dir>', 'data directory (default: $BULWARK_DATA or ./data)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerOps(program);
  registerDirectory(program);
  registerQueue(program);
  registerBlocks(program);
  return program;
}

export function exitCodeFor(e: unknown): number {
  if (e instanceof DomainError) {
    if (e.code === 'CONFIG_INVALID' || e.code === 'INVALID_INPUT') return 2;
    return e.temporary ? 75 : 1;
  }
  return 1;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander has printed its own message (or help/version, with exit code 0)
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    if (e instanceof DomainError) {
      for (const line of e.message.split('\n')) process.stderr.write(`bulwark: ${line}\n`);
    } else {
      process.stderr.write(`bulwark: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
    }
    process.exitCode = exitCodeFor(e);
  }
}
