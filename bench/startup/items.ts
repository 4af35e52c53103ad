/** The `startup` row's work: ten items, each squared (the answer every script must print). */

export const ITEMS: readonly number[] = Array.from({ length: 10 }, (_, i) => i);
export const square = (x: number): number => x * x;

/**
 * Have the script write its process's CPU time (user + system, every thread, in ms) on stderr as
 * it exits: `cpu <ms>` (bench/startup.ts reads it). Each script calls it once, on its main thread.
 */
export function reportCpuAtExit(): void {
  process.on('exit', () => {
    const { user, system } = process.cpuUsage();
    process.stderr.write(`cpu ${(user + system) / 1000}\n`);
  });
}
