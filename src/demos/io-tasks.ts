/**
 * The io demo's task: fetch one URL and return its body. It spends nearly all its time
 * waiting for the server, not computing.
 */

import { defineTasks } from '../tasks/tasks.js';

export async function fetchText(url: string): Promise<string> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return await response.text();
}

export default defineTasks(import.meta.url, { fetchText });
