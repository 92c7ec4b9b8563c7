import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadMigrationConfig } from '../../../schemas/config.ts';

describe('the example migration file', () => {
  it('validates, and every documented key of the mapping is in it', () => {
    const config = loadMigrationConfig('examples/migration.example.yaml');
    expect(config.mapping.fields).toEqual({ product: 'edition', seats: null });
    expect(config.mapping.values.product).toEqual({ Basic: 'Starter', Enterprise: 'Business' });
    expect(config.filters.createdFrom).toBe('2023-01-01T00:00:00.000Z');
    expect(config.options.addTag).toBe('migrated');
    const docs = readFileSync('docs/mapping.md', 'utf8');
    const raw = parse(readFileSync('examples/migration.example.yaml', 'utf8'));
    for (const section of ['mapping', 'filters'] as const) {
      for (const key of Object.keys(raw[section])) expect(docs, `${section}.${key}`).toContain(`\`${section}.${key}\``);
    }
    for (const key of ['inlineImagesAsAttachments', 'addTag', 'skipKb']) expect(docs).toContain(`\`options.${key}\``);
  });
});
