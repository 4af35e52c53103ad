/**
 * Adaptive batch sizing: joblib's rule, tuned to Node's costs.
 *
 * Each finished batch reports how long it ran in its worker. The sizer smooths the time per
 * item and grows or shrinks the batch so one batch runs between MIN and MAX_BATCH_MS.
 *
 * Constants, and why:
 * - MIN_BATCH_MS = 50. A batch costs the main thread ~20–60 µs of its own work whatever its size
 *   (a structured clone each way, a postMessage, the bookkeeping here), but when every core is
 *   busy with a worker the main thread must also take a core from one of them to handle each
 *   result: measured at 0.1–0.6 ms of lost worker time per batch on 2 cores (400 items of 10 ms:
 *   1.034× the hand-batched time with a 10 ms minimum, 1.013× with 25 ms, 1.008× with 50 ms).
 *   joblib's 200 ms minimum reflects a ~1 ms pickling round trip between processes; a
 *   worker_threads round trip is far cheaper, so the target can be 4× smaller, which keeps
 *   cancellation, progress and the tail of a run responsive.
 * - MAX_BATCH_MS = 500: a batch longer than that shrinks again (the items got slower).
 * - SMOOTHING = 0.8 / 0.2 (joblib's): one noisy batch does not swing the size.
 * - GROWTH per finished batch of the current size: to twice that size (joblib's rule), or to
 *   as many items as have been timed in all, whichever is larger. A batch never holds more
 *   items than the evidence behind it, so a few cheap first items cannot size a huge batch of
 *   costly ones; but when many small batches are in flight, as they are while items are cheap,
 *   their items count: weather-10 items reach 65,536 per batch in 9 rounds instead of 17, and
 *   a pool.map of 50,000 of them (20 ms of serial work) went from 0.74–0.82× the serial loop
 *   to 0.91–1.01×. Batches cut at an older size refine the estimate and add to the count, but
 *   do not move the size themselves.
 * - MAX_ITEMS = 2^16: a batch of no-ops is cheap in the worker but its items still cross twice
 *   through the main thread; past ~65,000 items bigger batches save nothing measurable and
 *   hold more memory in the window (an imap over 10 M no-ops peaked at 326 MB RSS with 2^18,
 *   240 MB with 2^16, at the same throughput).
 * - TAIL_SPLIT = 4: when the number of items left is known, a batch takes at most
 *   1 / (4 × workers) of them, so the last batches shrink geometrically and no worker is left
 *   finishing a big batch while the others idle.
 * - TAIL_MIN_MS = 1: ... but a tail batch keeps ~1 ms of work. Every batch costs a worker ~0.2 ms
 *   between the end of one and the start of the next (posting, receiving, starting) and the
 *   main thread its handling; shrinking to single items made the last quarter of a weather-10
 *   call ~85 batches, where ~30 leave the workers as evenly loaded (within ~1 ms).
 */

import type { BatchLimits } from './backend.js';

/*
 * Across a network (BatchLimits.measureRoundTrip: the redis backend) a batch's round trip is
 * measured as the call runs: the time from submitting a batch to its outcome, less the time it
 * ran, at its smallest so far (a batch that waited behind another in its worker, or for a
 * connection, measures more than the trip). With a round trip of `o` ms known:
 * - a batch aims at least `o` ms of work (and MIN_BATCH_MS), so with 2 batches in flight per
 *   worker the next one is there before the last ends, and the trip is hidden;
 * - growing, a batch may hold as much work as the last round of its size took in all (its work
 *   plus `o`), not only twice its work: the local rule bounds a round's growth by the time the
 *   round took, and across a network most of that time is the trip (from 1 item to a full
 *   batch in ~3 rounds of 40 ms rather than ~15);
 * - a tail batch keeps `o` ms of work rather than TAIL_MIN_MS.
 */

export const MIN_BATCH_MS = 50;
export const MAX_BATCH_MS = 500;
export const SMOOTHING = 0.8;
export const MAX_GROWTH = 2;
export const MAX_ITEMS = 1 << 16;
export const TAIL_SPLIT = 4;
export const TAIL_MIN_MS = 1;

/** The auto sizer's limits: the defaults above, tightened by what a backend asks for. */
export function autoLimits(needs: BatchLimits | undefined): AutoLimits {
  const minMs = Math.max(MIN_BATCH_MS, needs?.minMs ?? 0);
  return {
    minMs,
    maxMs: Math.max(MAX_BATCH_MS, 10 * minMs),
    maxItems: Math.max(1, Math.min(MAX_ITEMS, needs?.maxItems ?? MAX_ITEMS)),
    measureRoundTrip: needs?.measureRoundTrip === true,
  };
}

export interface AutoLimits {
  readonly minMs: number;
  readonly maxMs: number;
  readonly maxItems: number;
  /** Size from the measured round trip too (see above). */
  readonly measureRoundTrip?: boolean;
}

export interface BatchSizer {
  /** The size of the next batch, given how many items are left (when known). */
  next(remaining: number | undefined): number;
  /** A batch of `size` items ran for `durationMs` in its worker. */
  observe(size: number, durationMs: number): void;
  /**
   * A batch started all its items and they await (an async task) in a worker that holds up to
   * `slots` such items in flight (see AutoBatchSizer.observeParked).
   */
  observeParked?(slots: number): void;
  /** A batch's outcome came `overheadMs` after its submission and its run (the trip, and any wait). */
  observeRoundTrip?(overheadMs: number): void;
  /** The round trip batches are sized to hide, in ms (0 when not measured). */
  readonly roundTripMs?: number;
  /** The smoothed estimate of one batch's duration at the current size, in ms (undefined before any). */
  readonly estimatedBatchMs: number | undefined;
  /** The smoothed estimate of one item's duration, in ms (undefined before any). */
  readonly perItemMs: number | undefined;
  /** The size is still climbing toward its band (automatic sizing only): the next batches will be bigger. */
  readonly growing: boolean;
  readonly current: number;
}

/** A sizer that always answers `size` (the `batchSize: n` option: exactly what was asked for). */
export function fixedBatchSizer(size: number): BatchSizer {
  let estimate: number | undefined;
  return {
    next: () => size,
    observe(n, durationMs) {
      const perItem = durationMs / n;
      estimate = estimate === undefined ? perItem : SMOOTHING * estimate + (1 - SMOOTHING) * perItem;
    },
    get estimatedBatchMs() {
      return estimate === undefined ? undefined : estimate * size;
    },
    get perItemMs() {
      return estimate;
    },
    growing: false,
    current: size,
  };
}

function tail(
  size: number,
  remaining: number | undefined,
  workers: number,
  perItemMs: number | undefined,
  minTailMs = TAIL_MIN_MS,
): number {
  if (remaining === undefined) return size;
  const share = Math.ceil(remaining / (TAIL_SPLIT * workers));
  const floor = perItemMs !== undefined && perItemMs > 0 ? Math.ceil(minTailMs / perItemMs) : 1;
  return Math.max(1, Math.min(size, Math.max(share, floor)));
}

/** joblib-style automatic sizing (`batchSize: 'auto'`). */
export class AutoBatchSizer implements BatchSizer {
  private size = 1;
  private itemMs: number | undefined;
  /** Items in every batch observed so far: the most a batch may grow to beyond doubling. */
  private timedItems = 0;
  /** The smallest overhead measured (ms), when the limits ask to measure it. */
  private tripMs: number | undefined;

  constructor(
    private readonly workers: number,
    private readonly limits: AutoLimits = { minMs: MIN_BATCH_MS, maxMs: MAX_BATCH_MS, maxItems: MAX_ITEMS },
  ) {}

  get roundTripMs(): number {
    return this.tripMs ?? 0;
  }

  observeRoundTrip(overheadMs: number): void {
    if (!this.limits.measureRoundTrip || !(overheadMs >= 0)) return;
    this.tripMs = this.tripMs === undefined ? overheadMs : Math.min(this.tripMs, overheadMs);
  }

  /** The least work a batch should hold: the minimum, or the round trip when that is longer. */
  private get minMs(): number {
    return Math.max(this.limits.minMs, this.roundTripMs);
  }

  get current(): number {
    return this.size;
  }

  get perItemMs(): number | undefined {
    return this.itemMs;
  }

  get estimatedBatchMs(): number | undefined {
    return this.itemMs === undefined ? undefined : this.itemMs * this.size;
  }

  get growing(): boolean {
    if (this.perItemMs === undefined) return true;
    return this.perItemMs * this.size < this.minMs && this.size < this.limits.maxItems;
  }

  next(remaining: number | undefined): number {
    return tail(this.size, remaining, this.workers, this.perItemMs, Math.max(TAIL_MIN_MS, this.roundTripMs));
  }

  /**
   * Async items: a batch of them parked, its items awaiting, holding no core. Until timings say
   * more, a batch holds at least `slots` items, so one message fills a worker's slots: at one
   * item a batch, each slot cost a round trip to the worker and back (a `parked` answered by the
   * next batch): on the async-io row (10 ms awaits, 2 workers × 16 slots, load average ~8) the
   * slots took 3–9 ms to fill, 1–4 ms this way. A park is no evidence of the items' cost, so it
   * never moves a size already in its band, and tail splitting still shares the last items out.
   */
  observeParked(slots: number): void {
    if (!this.growing) return;
    this.size = Math.max(this.size, Math.min(slots, this.limits.maxItems));
  }

  observe(size: number, durationMs: number): void {
    if (size <= 0) return;
    this.timedItems += size;
    const perItem = Math.max(durationMs, 0) / size;
    this.itemMs = this.itemMs === undefined ? perItem : SMOOTHING * this.itemMs + (1 - SMOOTHING) * perItem;
    // Only a batch cut at the current size moves the size (joblib's rule): with many batches in
    // flight, older, smaller ones finishing would otherwise double it again and again in one round.
    if (size !== this.size) return;
    const estimated = this.itemMs * this.size;
    const { maxItems } = this.limits;
    const { minMs } = this;
    // A long round trip raises the band's top with its bottom (autoLimits' ratio).
    const maxMs = Math.max(this.limits.maxMs, 10 * minMs);
    if (estimated < minMs) {
      // Aim for twice the minimum (joblib does the same) so the size settles inside the band.
      const ideal = this.itemMs > 0 ? Math.floor((2 * minMs) / this.itemMs) : Number.POSITIVE_INFINITY;
      // Across a network: as much work as the last round took, trip included (see above).
      const trip = this.roundTripMs;
      const byRound =
        trip > 0 && this.itemMs > 0 ? Math.floor(this.size * (1 + trip / Math.max(estimated, 1e-3))) : 0;
      const grown = Math.max(this.size * MAX_GROWTH, this.timedItems, byRound);
      this.size = Math.max(1, Math.min(grown, ideal, maxItems));
    } else if (estimated > maxMs && this.size >= 2) {
      // Too slow: jump straight down (shrinking fast is safe, growing fast is not).
      this.size = Math.max(1, Math.floor((2 * minMs) / this.itemMs));
    }
  }
}
