#!/usr/bin/env node
/** The `fanout` command line. */

import { parseArgs } from 'node:util';
import { outOfCoreCommand } from '../demos/out-of-core.js';
import { weatherDemo } from '../demos/weather.js';
import { resolveWorkers } from '../options.js';

const USAGE = `Usage: fanout <command> [options]

Commands:
  demo <name>    run a demo of the seed experiments (weather)

Run 'fanout <command> --help' for a command's options.`;

const DEMO_USAGE = `Usage: fanout demo weather [--sims N] [--steps N] [--workers N] [--seed N]

Seed 002's weather Monte Carlo: a serial loop, then pool.map with every core.
  --sims N      number of simulations (default 5000000)
  --steps N     days per simulation (default 10)
  --workers N   workers: a positive integer, 'auto' or -1 (default 'auto')
  --seed N      seed of the random streams (default 2024)`;

/** A bad flag: print the message and usage, exit 2. */
class UsageError extends Error {}

function integer(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`--${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

function workersFlag(value: string | undefined): number | 'auto' {
  if (value === undefined || value === 'auto') return 'auto';
  const n = Number(value);
  try {
    resolveWorkers(n, '--workers');
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return n;
}

async function demo(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      sims: { type: 'string' },
      steps: { type: 'string' },
      workers: { type: 'string' },
      seed: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${DEMO_USAGE}\n`);
    return 0;
  }
  const name = positionals[0];
  if (name !== 'weather')
    throw new UsageError(`unknown demo ${JSON.stringify(name ?? '')}; available: weather`);
  await weatherDemo({
    sims: integer('sims', values.sims, 5_000_000),
    steps: integer('steps', values.steps, 10),
    workers: workersFlag(values.workers),
    seed: integer('seed', values.seed, 2024),
    out: (line) => process.stdout.write(`${line}\n`),
  });
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'demo':
        if (rest[0] === 'out-of-core')
          return await outOfCoreCommand(rest.slice(1), (line) => process.stdout.write(`${line}\n`));
        return await demo(rest);
      case undefined:
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`fanout: ${(error as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }
}

process.exitCode = await main(process.argv.slice(2));
