/** The actor and the task of the `actor-call` bench row (bench/actors.ts): each returns its argument. */

import { defineActors, defineTasks } from '../src/index.js';

export const actors = defineActors(import.meta.url, {
  Echo: class Echo {
    calls = 0;
    echo(x: number): number {
      this.calls++;
      return x;
    }
  },
});

export const tasks = defineTasks(import.meta.url, {
  echo(x: number): number {
    return x;
  },
});
