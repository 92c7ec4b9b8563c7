import { SchemaRegistryClient } from '@confluentinc/schemaregistry';
import { afterAll, describe, expect, it } from 'vitest';
import { destroySchemaRegistry, ensureSchemaRegistry, schemaRegistryHealthy } from '../../../tools/launcher/schema-registry.launcher.ts';

// The registry launcher and the registry's REST API, driven by the same client library the Kafka bus uses.
const name = `registry-test-${process.pid}`;
afterAll(() => destroySchemaRegistry({ name }));

const v1 = { type: 'record', name: 'Ticket', namespace: 'test', fields: [{ name: 'id', type: 'string' }] };
const v2 = { ...v1, fields: [...v1.fields, { name: 'subject', type: 'string', default: '' }] };
const breaking = { ...v1, fields: [...v1.fields, { name: 'priority', type: 'int' }] };

describe('schema registry launcher', () => {
  it('starts once, enforces backward compatibility, keeps schemas across a restart', async () => {
    const first = await ensureSchemaRegistry({ name });
    expect(await schemaRegistryHealthy(first.url)).toBe(true);
    const again = await ensureSchemaRegistry({ name });
    expect(again.pid).toBe(first.pid);
    expect(again.timings.startMs).toBe(0);

    const client = new SchemaRegistryClient({ baseURLs: [first.url] });
    const id1 = await client.register('tickets-value', { schemaType: 'AVRO', schema: JSON.stringify(v1) });
    expect(await client.register('tickets-value', { schemaType: 'AVRO', schema: JSON.stringify(v1) })).toBe(id1);
    const id2 = await client.register('tickets-value', { schemaType: 'AVRO', schema: JSON.stringify(v2) });
    expect(id2).not.toBe(id1);
    await expect(client.register('tickets-value', { schemaType: 'AVRO', schema: JSON.stringify(breaking) })).rejects.toThrow(/incompatible/);
    expect(await client.getAllVersions('tickets-value')).toEqual([1, 2]);
    expect(JSON.parse((await client.getBySubjectAndId('tickets-value', id1)).schema).fields).toHaveLength(1);
    expect((await client.getLatestSchemaMetadata('tickets-value')).id).toBe(id2);

    await first.stop();
    expect(await schemaRegistryHealthy(first.url, 500)).toBe(false);
    const restarted = await ensureSchemaRegistry({ name });
    expect(restarted.url).toBe(first.url);
    const fresh = new SchemaRegistryClient({ baseURLs: [restarted.url] });
    expect(JSON.parse((await fresh.getBySubjectAndId('tickets-value', id2)).schema).fields).toHaveLength(2);
    expect(await fresh.getAllSubjects()).toEqual(['tickets-value']);
  });
});
