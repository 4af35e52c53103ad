/**
 * Parsing the text of one chunk: NDJSON and CSV records. Pure functions over the bytes a worker
 * read, which start at a record boundary (see read.ts). A malformed line fails with a
 * `ChunkParseError` naming the file and the byte offset where the line starts.
 */

import { ChunkParseError } from '../errors.js';

const NEWLINE = 10;
const QUOTE = 34;

/** The offset in `bytes` where line `k` starts; only computed for an error, so a scan is fine. */
function lineStart(bytes: Buffer, k: number): number {
  let at = 0;
  for (let i = 0; i < k; i++) at = bytes.indexOf(NEWLINE, at) + 1;
  return at;
}

function preview(line: string): string {
  return JSON.stringify(line.length > 60 ? `${line.slice(0, 57)}...` : line);
}

function isBlank(line: string): boolean {
  return line.length === 0 || (line.charCodeAt(0) <= 32 && line.trim() === '');
}

/**
 * Call `visit` with each non-blank line and its line number in `bytes`. The text is decoded once
 * and split (much faster than decoding line by line); a line's byte offset is recovered only when
 * it is needed, for an error. A `\r` before the `\n` is dropped, and so is a byte-order mark at
 * the very start of the file.
 */
function forEachLine(bytes: Buffer, firstByte: number, visit: (line: string, k: number) => void): void {
  const lines = bytes.toString('utf8').split('\n');
  for (let k = 0; k < lines.length; k++) {
    let line = lines[k] as string;
    if (line.length > 0 && line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
    if (k === 0 && firstByte === 0 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    if (!isBlank(line)) visit(line, k);
  }
}

/** The records of an NDJSON chunk: one JSON value per line; blank lines are skipped. */
export function parseNdjson(bytes: Buffer, firstByte: number, path: string): unknown[] {
  const records: unknown[] = [];
  forEachLine(bytes, firstByte, (line, k) => {
    try {
      records.push(JSON.parse(line));
    } catch (error) {
      throw new ChunkParseError(
        path,
        firstByte + lineStart(bytes, k),
        `invalid JSON (${(error as Error).message}) in the line ${preview(line)}`,
        { cause: error },
      );
    }
  });
  return records;
}

/** A malformed CSV line; the caller adds the file and the offset. */
export class CsvSyntaxError extends Error {}

/**
 * The fields of one CSV line. Quoted fields follow RFC 4180 (`""` is a quote, delimiters inside
 * quotes are data) but cannot span lines: a chunk boundary is found by looking for a newline, so
 * a newline inside quotes would be taken for the end of a record. A quote inside an unquoted
 * field is kept as data (`5'11"`), as most readers do.
 */
export function splitCsvLine(line: string, delimiter: string): string[] {
  if (line.indexOf('"') < 0) return line.split(delimiter);
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line.charCodeAt(i) === QUOTE) {
      let value = '';
      let from = i + 1;
      for (;;) {
        const close = line.indexOf('"', from);
        if (close < 0) {
          throw new CsvSyntaxError(
            `unterminated quoted field ${fields.length + 1} (a quoted field cannot span lines: chunks are cut at newlines)`,
          );
        }
        value += line.slice(from, close);
        if (line.charCodeAt(close + 1) === QUOTE) {
          value += '"';
          from = close + 2;
          continue;
        }
        i = close + 1;
        break;
      }
      fields.push(value);
      if (i === line.length) return fields;
      if (line[i] !== delimiter) {
        throw new CsvSyntaxError(
          `${JSON.stringify(line[i])} after the closing quote of field ${fields.length} (expected ${JSON.stringify(delimiter)} or the end of the line)`,
        );
      }
      i += 1;
    } else {
      const next = line.indexOf(delimiter, i);
      fields.push(next < 0 ? line.slice(i) : line.slice(i, next));
      if (next < 0) return fields;
      i = next + 1;
    }
  }
}

/** How a CSV chunk is parsed (the csv part of the reader spec). */
export interface CsvFormat {
  readonly path: string;
  readonly delimiter: string;
  readonly names: readonly string[] | undefined;
  readonly fields: number | undefined;
  readonly numeric: boolean;
}

/** The records of a CSV chunk: arrays of fields, or objects keyed by the header's names. */
export function parseCsv(bytes: Buffer, firstByte: number, format: CsvFormat): unknown[] {
  const { delimiter, names, fields: expected, numeric } = format;
  const plainNames = !names?.includes('__proto__');
  const records: unknown[] = [];
  forEachLine(bytes, firstByte, (line, k) => {
    const fail = (reason: string): never => {
      throw new ChunkParseError(format.path, firstByte + lineStart(bytes, k), reason);
    };
    let fields: string[] = [];
    try {
      fields = splitCsvLine(line, delimiter);
    } catch (error) {
      if (error instanceof CsvSyntaxError) fail(`${error.message} in the line ${preview(line)}`);
      throw error;
    }
    if (expected !== undefined && fields.length !== expected) {
      fail(`${fields.length} fields where the header has ${expected}, in the line ${preview(line)}`);
    }
    const values: (string | number)[] = numeric
      ? fields.map((field, i) => {
          const text = field.trim();
          // An empty field is a missing value (NaN); Number('') would say 0.
          if (text === '') return Number.NaN;
          const value = Number(text);
          if (Number.isNaN(value) && text !== 'NaN') {
            fail(`field ${i + 1} (${preview(field)}) is not a number, in the line ${preview(line)}`);
          }
          return value;
        })
      : fields;
    if (!names) {
      records.push(values);
      return;
    }
    const record: Record<string, string | number> = {};
    if (plainNames) {
      for (let i = 0; i < names.length; i++) record[names[i] as string] = values[i] as string | number;
    } else {
      // A column named "__proto__" must become a property, not the record's prototype.
      for (let i = 0; i < names.length; i++) {
        Object.defineProperty(record, names[i] as string, {
          value: values[i],
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    }
    records.push(record);
  });
  return records;
}

/** The column names of a CSV header line; duplicates would make records lose values. */
export function parseCsvHeader(line: string, delimiter: string, path: string): string[] {
  let names: string[];
  try {
    names = splitCsvLine(line, delimiter);
  } catch (error) {
    if (error instanceof CsvSyntaxError) throw new ChunkParseError(path, 0, `${error.message} in the header`);
    throw error;
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) {
      throw new ChunkParseError(path, 0, `the header names column ${JSON.stringify(name)} twice`);
    }
    seen.add(name);
  }
  return names;
}
