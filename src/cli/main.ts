#!/usr/bin/env node
/**
 * The `fanout` command line: run tasks over JSON lines, profile them, run the seed demos, serve
 * a distributed pool. Each command lives in its own module and is loaded on demand.
 */

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { inheritedExecArgv } from '../local/exec-argv.js';
import { UsageError } from '../options/flags.js';
import { canImportTypeScript, EXIT, IoFailure, isTypeScript } from './flags.js';

const USAGE = `Usage: fanout <command> [options]

Commands:
  run <module> <task>       run a task over JSON lines: one value in, one result out
  profile <module> <task>   measure a task at 1..N workers, fit Amdahl's law, suggest settings
  demo <name>               the seed experiments: weather, timeline, marshaling, strings, io,
                            amdahl, out-of-core
  worker                    run tasks for pools on the redis backend (--redis URL --tasks FILE)
  slurm up|status|down      run workers as Slurm jobs, show them, stop them
  dashboard                 a live page of a redis queue's workers (--redis URL)

Run 'fanout <command> --help' for a command's options.`;

interface Command {
  run(args: string[]): Promise<number>;
  usage: string;
}

const commands: Record<string, () => Promise<Command>> = {
  run: async () => {
    const m = await import('./run.js');
    return { run: m.runCommand, usage: m.RUN_USAGE };
  },
  profile: async () => {
    const m = await import('./profile.js');
    return { run: m.profileCommand, usage: m.PROFILE_USAGE };
  },
  demo: async () => {
    const m = await import('./demo.js');
    return { run: m.demoCommand, usage: m.DEMO_USAGE };
  },
  slurm: async () => {
    const m = await import('./slurm.js');
    return { run: m.slurmCommand, usage: m.SLURM_USAGE };
  },
  dashboard: async () => {
    const m = await import('./dashboard.js');
    return { run: m.dashboardCommand, usage: m.DASHBOARD_USAGE };
  },
};

/**
 * A `.ts` task module needs a TypeScript loader in this process and in every worker: run the
 * command again under `--import tsx` (workers inherit it), if tsx can be found.
 */
async function reexecForTypeScript(argv: string[]): Promise<number | undefined> {
  const [command, modulePath] = argv;
  if ((command !== 'run' && command !== 'profile') || !modulePath || !isTypeScript(modulePath))
    return undefined;
  if (canImportTypeScript()) return undefined;
  try {
    createRequire(pathToFileURL(`${process.cwd()}/`)).resolve('tsx');
  } catch {
    throw new UsageError(
      `${modulePath} is TypeScript: install a loader (npm install --save-dev tsx) or pass the compiled .js module`,
    );
  }
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', ...inheritedExecArgv(), process.argv[1] as string, ...argv],
    {
      stdio: 'inherit',
    },
  );
  return await new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 1)));
  });
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command === 'worker') {
    // It checks its own flags (exit code 2) and runs until SIGINT/SIGTERM.
    return await (await import('./worker.js')).workerCommand(rest);
  }
  const load = commands[command];
  if (!load) {
    process.stderr.write(`fanout: unknown command ${JSON.stringify(command)}\n\n${USAGE}\n`);
    return 2;
  }
  const { run, usage } = await load();
  try {
    const reexec = await reexecForTypeScript(argv);
    if (reexec !== undefined) return reexec;
    return await run(rest);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (error instanceof UsageError || code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`fanout ${command}: ${(error as Error).message}\n\n${usage}\n`);
      return EXIT.usage;
    }
    if (error instanceof IoFailure) {
      process.stderr.write(`fanout ${command}: ${error.message}\n`);
      return EXIT.io;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
