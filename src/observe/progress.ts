import type { ProgressCounts, ProgressOptions, ProgressState } from '../types.js';

/**
 * Progress: a state object for callers who draw their own, and a renderer on stderr.
 *
 * On a terminal the bar is redrawn in place at most ten times a second; elsewhere (a log, CI) a
 * line is written now and then, in the spirit of joblib's `verbose` output. stdout is never
 * touched, and NO_COLOR (https://no-color.org) turns colour off.
 */

const REDRAW_MS = 100;
const LINE_EVERY_MS = 1000;

/** Keeps the counts and the clock; `state()` gives the derived figures. */
export class ProgressTracker {
  private counts: ProgressCounts = { done: 0, failed: 0, total: undefined };
  private units = 0;
  private readonly start: number;

  constructor(
    private readonly now: () => number = () => performance.now(),
    total?: number,
  ) {
    this.start = now();
    this.counts = { ...this.counts, total };
  }

  update(counts: ProgressCounts): void {
    this.counts = { ...counts, total: counts.total ?? this.counts.total };
  }

  addUnits(amount: number): void {
    this.units += amount;
  }

  state(): ProgressState {
    const elapsedMs = this.now() - this.start;
    const { done, failed, total } = this.counts;
    const itemsPerSecond = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
    const etaMs =
      total !== undefined && itemsPerSecond > 0 ? ((total - done) / itemsPerSecond) * 1000 : undefined;
    return { done, failed, total, units: this.units, elapsedMs, itemsPerSecond, etaMs };
  }
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

function formatRate(rate: number): string {
  if (rate >= 1e6) return `${(rate / 1e6).toFixed(2)}M/s`;
  if (rate >= 1e4) return `${(rate / 1e3).toFixed(1)}k/s`;
  return `${rate.toFixed(rate >= 100 ? 0 : 1)}/s`;
}

/** One line of text for a state: a bar on a terminal, plain words elsewhere. */
export function renderProgress(
  state: ProgressState,
  { label = 'fanout', width = 80, tty = false, color = false } = {},
): string {
  const { done, failed, total, elapsedMs, itemsPerSecond, etaMs, units } = state;
  const counts = total === undefined ? `${done}` : `${done}/${total}`;
  const failures = failed > 0 ? ` ${failed} failed` : '';
  const extra = units > 0 ? ` ${units} units` : '';
  const timing = `${formatRate(itemsPerSecond)} elapsed ${formatDuration(elapsedMs)}${
    etaMs === undefined ? '' : ` eta ${formatDuration(etaMs)}`
  }`;
  if (!tty) return `[${label}] done ${counts} items${failures}${extra} | ${timing}`;
  const text = ` ${counts}${failures}${extra} ${timing}`;
  const barWidth = Math.max(10, Math.min(40, width - label.length - text.length - 4));
  let bar: string;
  if (total === undefined || total === 0) {
    // Unknown total: a marker that moves, so the bar still shows life.
    const at = Math.floor(elapsedMs / REDRAW_MS) % barWidth;
    bar = `${' '.repeat(at)}=${' '.repeat(barWidth - at - 1)}`;
  } else {
    const filled = Math.min(barWidth, Math.round((done / total) * barWidth));
    bar = `${'█'.repeat(filled)}${'░'.repeat(barWidth - filled)}`;
  }
  const painted = color ? `\u001b[32m${bar}\u001b[39m` : bar;
  return `${label} ${painted}${text}`;
}

/** Draws progress on a stream (stderr by default) as it changes, throttled. */
export class ProgressRenderer {
  private lastDraw = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private readonly stream: NonNullable<ProgressOptions['stream']>;
  private readonly tty: boolean;
  private readonly color: boolean;
  private readonly label: string;

  constructor(
    private readonly tracker: ProgressTracker,
    options: ProgressOptions = {},
  ) {
    this.stream = options.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
    this.color = this.tty && !('NO_COLOR' in process.env && process.env.NO_COLOR !== '');
    this.label = options.label ?? 'fanout';
  }

  /** Something changed: draw now if the last draw is old enough, else soon. */
  changed(): void {
    const wait = (this.tty ? REDRAW_MS : LINE_EVERY_MS) - (performance.now() - this.lastDraw);
    if (wait <= 0) this.draw();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.draw();
      }, wait);
      this.timer.unref();
    }
  }

  /** The last draw, then a newline on a terminal. */
  finish(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.draw();
    if (this.tty) this.stream.write('\n');
  }

  private draw(): void {
    this.lastDraw = performance.now();
    const line = renderProgress(this.tracker.state(), {
      label: this.label,
      width: this.stream.columns ?? 80,
      tty: this.tty,
      color: this.color,
    });
    this.stream.write(this.tty ? `\r\u001b[2K${line}` : `${line}\n`);
  }
}
