/**
 * The files of `fanout run`: numbered input lines and an output that reports its failures.
 * Both are opened before any work starts, so a missing file or folder is one line on stderr and
 * exit code 3, not a stack trace after the workers have started; a failure later (a full disk, a
 * closed pipe, an input that is a folder) is reported the same way.
 */

import { once } from 'node:events';
import { createReadStream, createWriteStream, open } from 'node:fs';
import { createInterface, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import { IoFailure } from './flags.js';

/**
 * A file descriptor for a stream (which closes it): the classic fs streams on a descriptor cost
 * the main thread less per write than a FileHandle's, and every result line is a write.
 */
const openFd = promisify(open);

/** What `toItem` returns for a line that holds no item (a blank line). */
export const SKIP: unique symbol = Symbol('skip');

/** The lines of a file or of stdin, numbered from 1, until the end or `stop()`. */
export class InputLines {
  /** The read error that ended the input early, if one did. */
  failure: IoFailure | undefined;
  private reader: Interface | undefined;
  private stopped = false;

  private constructor(
    private readonly stream: Readable,
    /** The file as given, or "stdin". */
    readonly name: string,
  ) {}

  /** `path`, or stdin for '-'. Throws `IoFailure` when the file cannot be opened. */
  static async open(path: string): Promise<InputLines> {
    if (path === '-') return new InputLines(process.stdin, 'stdin');
    try {
      return new InputLines(createReadStream('', { fd: await openFd(path, 'r') }), path);
    } catch (error) {
      throw new IoFailure('read', path, error);
    }
  }

  /**
   * The items of the input: `toItem` turns each line (numbered from 1) into one, or into `SKIP`.
   * One generator over readline, not a chain of them: each level costs promises per line, and
   * the main thread reads every line.
   */
  async *items(toItem: (text: string, line: number) => unknown): AsyncGenerator<unknown, void, undefined> {
    if (this.stopped) return;
    // Made here, not when opened: readline starts reading at once, and lines read before an
    // iterator listens are lost.
    this.reader = createInterface({ input: this.stream, crlfDelay: Number.POSITIVE_INFINITY });
    let line = 0;
    try {
      for await (const text of this.reader) {
        if (this.stopped) return;
        const item = toItem(text, ++line);
        if (item !== SKIP) yield item;
      }
    } catch (error) {
      this.failure = new IoFailure('read', this.name, error);
    }
  }

  /** Read no further (lines already buffered are dropped too). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.reader?.close();
    if (this.stream !== process.stdin) this.stream.destroy();
  }
}

/** A file or stdout that remembers its first error and throws it as an `IoFailure`. */
export class Output {
  private failure: unknown;
  /** Settles at the stream's first error: a wait for 'drain' or 'finish' must not outlive it. */
  private readonly broken: Promise<void>;

  private constructor(
    private readonly stream: Writable,
    /** The file as given, or "stdout". */
    readonly name: string,
  ) {
    this.broken = new Promise((resolve) => {
      stream.on('error', (error: unknown) => {
        this.failure ??= error;
        resolve();
      });
    });
  }

  /** `path`, or stdout for '-'. Throws `IoFailure` when the file cannot be created. */
  static async open(path: string): Promise<Output> {
    if (path === '-') return new Output(process.stdout, 'stdout');
    try {
      return new Output(createWriteStream('', { fd: await openFd(path, 'w') }), path);
    } catch (error) {
      throw new IoFailure('write', path, error);
    }
  }

  /** Write `text`, waiting while the stream's buffer is full (the run goes at the output's pace). */
  async write(text: string): Promise<void> {
    this.check();
    if (!this.stream.write(text)) {
      await Promise.race([once(this.stream, 'drain').catch(() => {}), this.broken]);
      this.check();
    }
  }

  /** Flush everything written (and close a file); throws `IoFailure` if any of it failed. */
  async close(): Promise<void> {
    this.check();
    if (this.stream === process.stdout) {
      await new Promise<void>((resolve) => {
        this.stream.write('', (error) => {
          if (error) this.failure ??= error;
          resolve();
        });
      });
    } else {
      this.stream.end();
      await Promise.race([once(this.stream, 'finish').catch(() => {}), this.broken]);
    }
    this.check();
  }

  private check(): void {
    if (this.failure !== undefined) throw new IoFailure('write', this.name, this.failure);
  }
}
