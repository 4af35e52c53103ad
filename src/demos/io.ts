/**
 * `fanout demo io`: waiting is not computing (seeds 001 and 004).
 *
 * A local server answers each request after a delay. Fetched one after another, the requests
 * take the sum of their delays. Started together as async tasks on one thread, they wait
 * together, and take about one delay: the seeds' asyncio lesson, and Node's everyday way. A
 * pool of N worker threads running one task per worker at a time (`concurrentTasksPerWorker: 1`,
 * the seeds' ThreadPoolExecutor) waits N at a time: more workers than needed, and still slower
 * than plain async. Use threads for CPU, async for I/O. (By default a fanout worker keeps 16
 * async tasks in progress, so its threads would wait 16 at a time each.)
 */

import { Pool } from '../api/pool.js';
import { positiveIntegerFlag } from '../options/flags.js';
import { machineText, medianTimed, range, timesText, workerCount } from './common.js';
import type { Demo } from './demo.js';
import { printTable, secondsText } from './demo.js';
import tasks, { fetchText } from './io-tasks.js';
import { startSlowServer } from './slow-server.js';

interface Variant {
  readonly name: string;
  readonly how: string;
  readonly run: (urls: string[]) => Promise<string[]>;
}

/** What each variant fetched: the URLs it asked for and the answers it returned, in that order. */
export interface IoComputed {
  readonly answers: readonly {
    readonly variant: string;
    readonly urls: readonly string[];
    readonly bodies: readonly string[];
  }[];
}

export const ioDemo: Demo<IoComputed> = {
  name: 'io',
  summary: 'seeds 001/004: fetching from a slow local server, sequential vs async vs threads',
  flags: { requests: { type: 'string' }, delay: { type: 'string' } },
  help: [
    '  --requests N   requests per variant (default 40; 10 with --quick)',
    '  --delay MS     how long the server takes to answer (default 50)',
  ].join('\n'),
  async run(flags, { out, workers, quick }) {
    const requests = positiveIntegerFlag('requests', flags.requests as string | undefined, quick ? 10 : 40);
    const delayMs = positiveIntegerFlag('delay', flags.delay as string | undefined, 50);
    const n = workerCount(workers);
    const machine = machineText();
    out(
      `I/O-bound work (seeds 001/004): ${requests} requests to a local server that answers after ${delayMs} ms, on ${machine}`,
    );

    const server = await startSlowServer(delayMs);
    const inline = new Pool({ backend: 'inline', concurrency: requests });
    // One task per worker at a time: the seeds' thread pool, which waits N at a time.
    const threads = new Pool({ backend: 'threads', workers: n, concurrentTasksPerWorker: 1 });
    try {
      const variants: Variant[] = [
        {
          name: 'sequential',
          how: 'await each fetch in turn',
          run: async (urls) => {
            const bodies: string[] = [];
            for (const url of urls) bodies.push(await fetchText(url));
            return bodies;
          },
        },
        {
          name: 'async, Promise.all',
          how: 'every fetch started at once, one thread',
          run: (urls) => Promise.all(urls.map(fetchText)),
        },
        {
          name: 'async, inline pool',
          how: `backend 'inline', concurrency ${requests}`,
          run: (urls) => inline.map(tasks.fetchText, urls),
        },
        {
          name: `${n} worker threads`,
          how: `backend 'threads', ${n} workers, 1 task each`,
          run: (urls) => threads.map(tasks.fetchText, urls),
        },
      ];
      const urlsFor = (round: string) => Array.from(range(requests), (i) => `${server.url}/${round}/${i}`);
      // Warm up: load fetch in this thread and in every worker, and open the connections every
      // variant will reuse, so no variant pays for connecting and the first one does not pay alone.
      await Promise.all(urlsFor('warmup').map(fetchText));
      await threads.map(tasks.fetchText, urlsFor('warmup').slice(0, 2 * n), { batchSize: 1 });

      const columns = ['variant', 'how', 'at once', 'seconds', 'speedup'];
      const rows: (string | number)[][] = [];
      let sequential = 0;
      const answers: { variant: string; urls: string[]; bodies: string[] }[] = [];
      let allAnswered = true;
      for (const variant of variants) {
        const urls = urlsFor(variant.name.replace(/\W+/g, '-'));
        server.resetPeak();
        // The fast variants are over in a blink: keep the median of three.
        const run = await medianTimed(variant.name === 'sequential' ? 1 : 3, () => variant.run(urls));
        allAnswered &&= run.value.every(
          (body, i) => body === `answer to ${new URL(urls[i] as string).pathname}`,
        );
        answers.push({ variant: variant.name, urls, bodies: run.value });
        if (sequential === 0) sequential = run.seconds;
        rows.push([
          variant.name,
          variant.how,
          server.peak,
          secondsText(run.seconds),
          timesText(sequential / run.seconds),
        ]);
      }
      printTable(out, columns, rows);
      out(
        allAnswered
          ? `"at once": the most requests the server was holding at the same time. Every answer arrived, in order.`
          : 'WARNING: some answers were missing or out of order.',
      );
      return {
        computed: { answers },
        title: 'Waiting is not computing (seeds 001/004)',
        subtitle: `${requests} requests to a local server that answers after ${delayMs} ms, on ${machine}`,
        tables: [{ caption: 'One batch of requests, four ways', columns, rows }],
        notes: [
          `Sequential: ${requests} × ${delayMs} ms. Async: the requests wait together on one thread, about one delay in all.`,
          `A thread pool that runs one task per worker at a time (concurrentTasksPerWorker: 1): ${n} workers wait ${n} at a time, like a Python ThreadPoolExecutor with ${n} threads. (fanout's default keeps 16 async tasks in progress per worker.)`,
          "For I/O-bound work, async on one thread is enough; fanout's inline backend with `concurrency` gives it a pool's interface (progress, errors, cancellation).",
          '"at once" is counted by the server: the most requests it was holding at the same moment.',
          'Seconds: one run for sequential, the median of 3 for the others; connections were opened before timing.',
        ],
      };
    } finally {
      await threads.close();
      await inline.close();
      await server.close();
    }
  },
};
