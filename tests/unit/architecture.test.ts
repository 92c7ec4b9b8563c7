import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The import graph of the engine, read from the sources: rooms (schemas, the connector SDK, each
// connector, each services/ folder, tools) import one way only, and no module imports itself
// through others. docs/architecture.md draws the rooms.
const root = normalize(join(dirname(fileURLToPath(import.meta.url)), '..', '..'));

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

function importsOf(file: string): { target: string; typeOnly: boolean }[] {
  const text = readFileSync(join(root, file), 'utf8');
  const found: { target: string; typeOnly: boolean }[] = [];
  for (const match of text.matchAll(/^\s*(?:import|export)\s+(type\s+)?[^;]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/gms)) {
    found.push({ target: normalize(join(dirname(file), match[2]!)), typeOnly: Boolean(match[1]) });
  }
  for (const match of text.matchAll(/import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)) {
    found.push({ target: normalize(join(dirname(file), match[1]!)), typeOnly: false });
  }
  return found;
}

function roomOf(file: string): string {
  const [top, second] = file.split('/');
  if (top === 'services' || top === 'connectors' || top === 'tools') return `${top}/${second}`;
  return top!;
}

const files = ['schemas', 'connectors', 'services', 'tools'].flatMap(sources);
const graph = new Map(files.map((file) => [file, importsOf(file)]));

describe('the import graph', () => {
  it('reads every module it names', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(graph.get('services/cli/commands.ts')?.map((edge) => edge.target)).toContain('services/run/run-kinds.ts');
  });

  it('has no two rooms importing each other, type imports included', () => {
    const edges = new Map<string, string[]>();
    for (const [file, imports] of graph) {
      for (const { target } of imports) {
        const from = roomOf(file);
        const to = roomOf(target);
        if (from === to) continue;
        const key = `${from} -> ${to}`;
        edges.set(key, [...(edges.get(key) ?? []), `${file} imports ${target}`]);
      }
    }
    const twoWay = [...edges.keys()]
      .filter((key) => {
        const [from, to] = key.split(' -> ');
        return from! < to! && edges.has(`${to} -> ${from}`);
      })
      .map((key) => {
        const [from, to] = key.split(' -> ');
        return { rooms: key.replace('->', '<->'), there: edges.get(key), back: edges.get(`${to} -> ${from}`) };
      });
    expect(twoWay).toEqual([]);
  });

  it('keeps the shared schemas free of connectors, services and tools', () => {
    const outward = [...graph]
      .filter(([file]) => file.startsWith('schemas/'))
      .flatMap(([file, imports]) => imports.filter(({ target }) => !target.startsWith('schemas/')).map(({ target }) => `${file} imports ${target}`));
    expect(outward).toEqual([]);
  });

  it('has no import circle between modules (type-only imports aside)', () => {
    const state = new Map<string, 'open' | 'done'>();
    const circles: string[] = [];
    const visit = (file: string, path: string[]): void => {
      state.set(file, 'open');
      for (const { target, typeOnly } of graph.get(file) ?? []) {
        if (typeOnly || !graph.has(target)) continue;
        if (state.get(target) === 'open') circles.push([...path.slice(path.indexOf(target)), target].map((f) => relative('.', f)).join(' -> '));
        else if (!state.has(target)) visit(target, [...path, target]);
      }
      state.set(file, 'done');
    };
    for (const file of files) if (!state.has(file)) visit(file, [file]);
    expect(circles).toEqual([]);
  });
});
