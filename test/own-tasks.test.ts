/**
 * fanout names some tasks of its own task modules without importing them (`ownTask` in
 * src/layout.ts, and the column statistics' reducers: the caller then loads fewer files at
 * start-up). Each name must be one its module
 * registers: a worker imports the module by that URL and looks the task up by that name. (The
 * built package's URLs are exercised by the compiled runs of memory-backends.test.ts, a cached
 * task in workers, and demo-results.test.ts: the heat demo's SPMD ranks.)
 */

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { RANK_WRAPPER } from '../src/api/spmd.js';
import { columnStats } from '../src/chunks/column-stats.js';
import { CACHE_WRAPPER } from '../src/memory/memory.js';
import { PIECE_SPEC } from '../src/scheduler/graph.js';
import { lookupTask } from '../src/tasks/tasks.js';

/** Every task fanout names this way, as the modules that name them do. */
const named = [
  ['memory/cache-wrapper', CACHE_WRAPPER],
  ['worker/piece-tasks', PIECE_SPEC],
  ['worker/spmd-tasks', RANK_WRAPPER],
  ...Object.values(columnStats).map(
    (reducer) =>
      ['chunks/column-stat-tasks', { module: reducer.map.module, name: reducer.map.taskName }] as const,
  ),
] as const;

it("names of fanout's own tasks are tasks their modules register", async () => {
  for (const [path, task] of named) {
    assert.ok(task.module.endsWith(`/src/${path}.ts`), `${task.module} is src/${path}.ts`);
    await import(task.module);
    assert.equal(typeof lookupTask(task.module, task.name), 'function', `${task.name} in ${path}`);
  }
});
