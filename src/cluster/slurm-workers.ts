/**
 * `slurmWorkers` as the package exports it: the Slurm modules (and the Redis client its
 * `adapt` reads the queue with) load on its first call, so a program that never uses Slurm
 * never pays for them at start-up.
 */

import type { SlurmWorkers, SlurmWorkersOptions } from './slurm.js';

/**
 * Run `fanout worker` processes as Slurm jobs: a job array whose every task is one worker of
 * `cpusPerWorker` threads, taking jobs from the redis queue the pool uses. Resolves once the
 * `workers` asked for are submitted (they start when Slurm runs them); a pool's calls wait for
 * them meanwhile. Needs Slurm's client commands (`sbatch`, `squeue`, `scancel`) where it runs,
 * and task modules at paths the compute nodes share.
 *
 * The workers are this user's Slurm jobs of one name (`name`, default `fanout-<queue>`), whoever
 * submitted them: jobs left by an earlier run with the same configuration are counted, not
 * duplicated; jobs of that name with another configuration are refused (ERR_SLURM).
 *
 * @throws InvalidArgValueError / InvalidArgTypeError for a bad option (named).
 * @throws SlurmError (ERR_SLURM) when `sbatch` is missing (saying what to install) or Slurm refuses.
 *
 * @example
 * ```ts
 * import { Pool, slurmWorkers } from 'fanout';
 * import tasks from './tasks.js';
 *
 * const redis = 'redis://:s3cret@login1.cluster:6379';
 * await using cluster = await slurmWorkers({ redis, tasks: './dist/tasks.js', workers: 4, cpusPerWorker: 8, time: '1:00:00' });
 * await using pool = new Pool({ backend: { redis }, workers: 32 });
 * const results = await pool.map(tasks.simulate, inputs);
 * await cluster.scale(8); // or cluster.adapt({ minimum: 0, maximum: 16 })
 * ```
 */
export async function slurmWorkers(options: SlurmWorkersOptions): Promise<SlurmWorkers> {
  const slurm = await import('./slurm.js');
  return slurm.slurmWorkers(options);
}
