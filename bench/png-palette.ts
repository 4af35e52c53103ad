/**
 * Re-encode a screenshot (an 8-bit RGB or RGBA PNG, as Chromium writes) as an indexed PNG of at
 * most 256 colours, for the images the package ships (its install must stay small). A page of
 * flat colours and anti-aliased text loses nothing visible: the palette is the most frequent
 * colours, counted at 6 bits per channel, and every pixel takes the nearest of them.
 *
 *   node --import tsx bench/png-palette.ts in.png out.png
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { deflateSync, inflateSync } from 'node:zlib';

interface Image {
  readonly width: number;
  readonly height: number;
  /** RGB, 3 bytes a pixel. */
  readonly rgb: Uint8Array;
}

function chunks(png: Buffer): { type: string; data: Buffer }[] {
  const out: { type: string; data: Buffer }[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    out.push({ type: png.toString('latin1', at + 4, at + 8), data: png.subarray(at + 8, at + 8 + length) });
    at += 12 + length;
  }
  return out;
}

function decode(png: Buffer): Image {
  const parts = chunks(png);
  const header = parts.find((c) => c.type === 'IHDR')?.data as Buffer;
  const width = header.readUInt32BE(0);
  const height = header.readUInt32BE(4);
  const [depth, colorType, , , interlace] = [header[8], header[9], header[10], header[11], header[12]];
  if (depth !== 8 || (colorType !== 2 && colorType !== 6) || interlace !== 0) {
    throw new Error(
      `expected an 8-bit RGB or RGBA PNG without interlacing (depth ${depth}, colour type ${colorType})`,
    );
  }
  const channels = colorType === 6 ? 4 : 3;
  const raw = inflateSync(Buffer.concat(parts.filter((c) => c.type === 'IDAT').map((c) => c.data)));
  const stride = width * channels;
  const pixels = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? (pixels[y * stride + x - channels] as number) : 0;
      const b = y > 0 ? (pixels[(y - 1) * stride + x] as number) : 0;
      const c = x >= channels && y > 0 ? (pixels[(y - 1) * stride + x - channels] as number) : 0;
      const v = line[x] as number;
      let out: number;
      if (filter === 0) out = v;
      else if (filter === 1) out = v + a;
      else if (filter === 2) out = v + b;
      else if (filter === 3) out = v + ((a + b) >> 1);
      else {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        out = v + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      }
      pixels[y * stride + x] = out & 0xff;
    }
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) rgb.set(pixels.subarray(i * channels, i * channels + 3), i * 3);
  return { width, height, rgb };
}

function palette(image: Image): { colors: number[][]; index: Uint8Array } {
  const counts = new Map<number, number>();
  const { rgb } = image;
  for (let i = 0; i < rgb.length; i += 3) {
    const key =
      (((rgb[i] as number) >> 2) << 12) |
      (((rgb[i + 1] as number) >> 2) << 6) |
      ((rgb[i + 2] as number) >> 2);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const colors = [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 256)
    .map(([key]) => [((key >> 12) & 63) * 4 + 2, ((key >> 6) & 63) * 4 + 2, (key & 63) * 4 + 2]);
  const nearest = new Map<number, number>();
  const index = new Uint8Array(rgb.length / 3);
  for (let i = 0; i < index.length; i++) {
    const r = rgb[i * 3] as number;
    const g = rgb[i * 3 + 1] as number;
    const b = rgb[i * 3 + 2] as number;
    const key = (r << 16) | (g << 8) | b;
    let found = nearest.get(key);
    if (found === undefined) {
      let best = Infinity;
      found = 0;
      colors.forEach(([pr, pg, pb], n) => {
        const d = (r - (pr as number)) ** 2 + (g - (pg as number)) ** 2 + (b - (pb as number)) ** 2;
        if (d < best) {
          best = d;
          found = n;
        }
      });
      nearest.set(key, found);
    }
    index[i] = found;
  }
  return { colors, index };
}

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) c = (CRC_TABLE[(c ^ byte) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function encode(width: number, height: number, colors: number[][], index: Uint8Array): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 3, 0, 0, 0], 8);
  const lines = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) lines.set(index.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('PLTE', Buffer.from(colors.flat())),
    chunk('IDAT', deflateSync(lines, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** `file` re-encoded with a palette; returns the new size in bytes. */
export function toPalette(input: string, output: string): number {
  const image = decode(readFileSync(input));
  const { colors, index } = palette(image);
  const png = encode(image.width, image.height, colors, index);
  writeFileSync(output, png);
  return png.length;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) throw new Error('usage: png-palette.ts in.png out.png');
  console.log(`${output}: ${toPalette(input, output)} bytes`);
}
