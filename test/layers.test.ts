/**
 * The layers of src/, as docs/DESIGN.md declares them (its ```layers block, highest first): a
 * module may import only from its own folder or from a lower layer, and no import cycle may
 * exist between modules (type-only and dynamic imports count: they are dependencies too). Every
 * folder and root file of src/ must have a layer, so a new one is placed on purpose. Imports
 * are read with TypeScript's own scanner.
 */

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');

/** The layers, lowest first: each a list of units (`api`, `errors.ts`). */
function declaredLayers(): string[][] {
  const design = readFileSync(join(root, 'docs/DESIGN.md'), 'utf8');
  const block = /```layers\n([\s\S]*?)```/.exec(design)?.[1];
  assert.ok(block, 'docs/DESIGN.md has a ```layers block');
  return block
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean)
    .map((line) => line.split(/\s+/).map((unit) => unit.replace(/\/$/, '')))
    .reverse();
}

function* sourceFiles(folder: string): Generator<string> {
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(path);
    else if (entry.name.endsWith('.ts')) yield path;
  }
}

/** A module's unit: its folder under src/, or its own name at the root. */
const unitOf = (file: string) => relative(src, file).split('/')[0] as string;

/** Every relative import of every module of src/, as absolute paths of .ts files. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(src)) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    graph.set(
      file,
      importedFiles
        .map((f) => f.fileName)
        .filter((name) => name.startsWith('.'))
        .map((name) => resolve(dirname(file), name.replace(/\.js$/, '.ts'))),
    );
  }
  return graph;
}

/** The strongly connected components of more than one module, or of one that imports itself. */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const order = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    order.set(node, index);
    low.set(node, index++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (!order.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node) as number, low.get(next) as number));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node) as number, order.get(next) as number));
      }
    }
    if (low.get(node) !== order.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop() as string;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || graph.get(node)?.includes(node)) found.push(component);
  };
  for (const node of graph.keys()) if (!order.has(node)) visit(node);
  return found;
}

describe('the layers of src/', () => {
  const layers = declaredLayers();
  const rank = new Map(layers.flatMap((units, i) => units.map((unit) => [unit, i] as const)));
  const graph = importGraph();
  const show = (file: string) => relative(src, file);

  it('every folder and root file of src/ has a layer in docs/DESIGN.md', () => {
    const units = new Set([...graph.keys()].map(unitOf));
    assert.deepEqual([...units].filter((unit) => !rank.has(unit)).sort(), []);
    assert.deepEqual(
      [...rank.keys()].filter((unit) => !units.has(unit)).sort(),
      [],
      'layers name only what exists',
    );
  });

  it('no module imports from a higher layer, or from another folder of its own layer', () => {
    const wrong: string[] = [];
    for (const [file, imports] of graph) {
      const from = unitOf(file);
      for (const target of imports) {
        const to = unitOf(target);
        if (from === to) continue;
        const a = rank.get(from) ?? -1;
        const b = rank.get(to) ?? -1;
        if (b >= a) wrong.push(`${show(file)} → ${show(target)} (${from}: layer ${a}, ${to}: layer ${b})`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('has no import cycle', () => {
    assert.deepEqual(
      cycles(graph).map((component) => component.map(show).sort().join(' ↔ ')),
      [],
    );
  });
});
