import { describe, expect, it } from 'vitest';
import { SchemaRegistryStore } from '../../../../tools/launcher/schema-registry/registry.server.ts';

const record = (fields: object[]) => JSON.stringify({ type: 'record', name: 'R', fields });
const base = record([{ name: 'id', type: 'string' }]);
const added = record([{ name: 'id', type: 'string' }, { name: 'n', type: 'int', default: 0 }]);
const addedNoDefault = record([{ name: 'id', type: 'string' }, { name: 'n', type: 'int' }]);
const removed = record([]);

describe('schema registry store', () => {
  it('gives the same ID to the same schema however it is written, and a new version only for a new schema', () => {
    const store = new SchemaRegistryStore(null);
    const first = store.register('s-value', base);
    const spaced = store.register('s-value', JSON.stringify(JSON.parse(base), null, 2));
    expect(spaced).toMatchObject({ id: first.id, version: 1 });
    expect(store.register('other-value', base).id).toBe(first.id);
    expect(store.register('s-value', added)).toMatchObject({ version: 2 });
    expect(store.listVersions('s-value')).toEqual([1, 2]);
  });

  it('BACKWARD accepts a field with a default and refuses one without', () => {
    const store = new SchemaRegistryStore(null);
    store.register('s-value', base);
    expect(store.compatible('s-value', addedNoDefault)).toBe(false);
    expect(() => store.register('s-value', addedNoDefault)).toThrow(/incompatible/);
    expect(store.compatible('s-value', removed)).toBe(true);
  });

  it('FORWARD, FULL and NONE follow their definitions', () => {
    const store = new SchemaRegistryStore(null);
    store.register('s-value', added);
    store.setLevel('FORWARD', 's-value');
    // Old readers (with `n` defaulted) can read data written without `n`; but not data whose `id` is an int.
    expect(store.compatible('s-value', base)).toBe(true);
    expect(store.compatible('s-value', record([{ name: 'id', type: 'int' }, { name: 'n', type: 'int' }]))).toBe(false);
    store.setLevel('FULL', 's-value');
    // Dropping `id` is backward (new readers ignore it) but not forward (old readers need it).
    expect(store.compatible('s-value', addedNoDefault)).toBe(true);
    expect(store.compatible('s-value', removed)).toBe(false);
    store.setLevel('BACKWARD', 's-value');
    expect(store.compatible('s-value', removed)).toBe(true);
    store.setLevel('NONE', 's-value');
    expect(store.compatible('s-value', record([{ name: 'id', type: 'int' }]))).toBe(true);
    expect(() => store.setLevel('SIDEWAYS')).toThrow(/Invalid compatibility level/);
  });

  it('checks every earlier version under a transitive level, only the latest otherwise', () => {
    const store = new SchemaRegistryStore(null, 'NONE');
    store.register('s-value', base);
    store.register('s-value', removed);
    store.setLevel('BACKWARD', 's-value');
    expect(store.compatible('s-value', record([{ name: 'id', type: 'string', default: 'x' }]))).toBe(true);
    store.register('s-value', record([{ name: 'n', type: 'int', default: 1 }]));
    const needsId = record([{ name: 'id', type: 'string' }, { name: 'n', type: 'int', default: 1 }]);
    expect(store.compatible('s-value', needsId)).toBe(false);
    const optionalId = record([{ name: 'id', type: 'string', default: '' }, { name: 'n', type: 'int', default: 1 }]);
    store.setLevel('BACKWARD_TRANSITIVE', 's-value');
    expect(store.compatible('s-value', optionalId)).toBe(true);
    // Data without `id` is readable by the latest version but not by the first, which requires `id`.
    const noId = record([{ name: 'n', type: 'int', default: 2 }]);
    store.setLevel('FORWARD', 's-value');
    expect(store.compatible('s-value', noId)).toBe(true);
    store.setLevel('FORWARD_TRANSITIVE', 's-value');
    expect(store.compatible('s-value', noId)).toBe(false);
  });
});
