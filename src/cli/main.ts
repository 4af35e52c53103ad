#!/usr/bin/env node
/**
 * The `fanout` command line: run tasks over JSON lines, profile them, run the seed demos, serve
 * a distributed pool. Each command lives in its own module and is loaded on demand.
 */

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { packageJsonUrl } from '../layout.js';
import { inheritedExecArgv } from '../local/exec-argv.js';
import { UsageError } from '../options/flags.js';
import { nearest } from '../options/option-set.js';
import { CommandFailure, canImportTypeScript, EXIT, EXIT_HELP, isTypeScript } from './flags.js';

const USAGE = `Usage: fanout <command> [options]

Commands:
  run <module> <task>       run a task over JSON lines: one value in, one result out
  profile <module> <task>   measure a task at 1..N workers, fit Amdahl's law, suggest settings
  demo <name>               the seed experiments: weather, timeline, marshaling, strings, io,
                            amdahl, heat, out-of-core
  worker                    run tasks for pools on the redis backend (--redis URL --tasks FILE)
  slurm up|status|down      run workers as Slurm jobs, show them, stop them
  dashboard                 a live page of a redis queue's workers (--redis URL)

Run 'fanout <command> --help' for a command's options; 'fanout --version' prints the version.

${EXIT_HELP}`;

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
  worker: async () => {
    const m = await import('./worker.js');
    return { run: m.workerCommand, usage: m.WORKER_USAGE };
  },
};

/** The installed package's version, from its package.json. */
function version(): string {
  return (JSON.parse(readFileSync(packageJsonUrl, 'utf8')) as { version: string }).version;
}

/**
 * What an error that ends `fanout <command>` prints, and its exit code. Every error is one line;
 * a usage error adds the command's usage. An uncoded error that is not a command's own failure
 * is a defect of fanout: its stack is printed too, for the report.
 */
function report(command: string, usage: string, error: unknown): number {
  const prefix = `fanout ${command}: `;
  if (error instanceof UsageError) {
    process.stderr.write(`${prefix}${error.message}\n\n${usage}\n`);
    return EXIT.usage;
  }
  if (error instanceof CommandFailure) {
    process.stderr.write(`${prefix}${error.message}\n`);
    return error.exitCode;
  }
  const { code, message, stack } = (error ?? {}) as { code?: unknown; message?: unknown; stack?: unknown };
  if (typeof code === 'string' && typeof message === 'string') {
    process.stderr.write(`${prefix}${code}: ${message.split('\n')[0]}\n`);
    return EXIT.failed;
  }
  process.stderr.write(`${prefix}${typeof stack === 'string' ? stack : String(error)}\n`);
  return EXIT.failed;
}

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
    return command === undefined ? EXIT.usage : EXIT.ok;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${version()}\n`);
    return EXIT.ok;
  }
  const load = Object.hasOwn(commands, command) ? commands[command] : undefined;
  if (!load) {
    const near = nearest(command, Object.keys(commands));
    const hint = near === undefined ? '' : `: did you mean ${near}?`;
    process.stderr.write(`fanout: unknown command ${JSON.stringify(command)}${hint}\n\n${USAGE}\n`);
    return EXIT.usage;
  }
  let usage = USAGE;
  try {
    const loaded = await load();
    usage = loaded.usage;
    const reexec = await reexecForTypeScript(argv);
    if (reexec !== undefined) return reexec;
    return await loaded.run(rest);
  } catch (error) {
    return report(command, usage, error);
  }
}

process.exitCode = await main(process.argv.slice(2));
