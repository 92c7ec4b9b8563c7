import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DirectoryAttachmentStore } from '../../../../services/loader/attachment-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'hdm-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('directory attachment store', () => {
  const store = new DirectoryAttachmentStore({ directory: dir, baseUrl: 'https://files.example.com/helpdesk/' });

  it('writes a file under its key and links it under the base URL; the same key rewrites the same file', async () => {
    const link = await store.put('zendesk-12/900/report #1.pdf', new Uint8Array([1, 2, 3]));
    expect(link).toBe('https://files.example.com/helpdesk/zendesk-12/900/report%20%231.pdf');
    expect(store.linkFor('zendesk-12/900/report #1.pdf')).toBe(link);
    expect(new Uint8Array(readFileSync(join(dir, 'zendesk-12', '900', 'report #1.pdf')))).toEqual(new Uint8Array([1, 2, 3]));
    expect(await store.put('zendesk-12/900/report #1.pdf', new Uint8Array([4, 5, 6, 7]))).toBe(link);
    expect(await store.sizeOf(link)).toBe(4);
    expect(readdirSync(join(dir, 'zendesk-12', '900'))).toEqual(['report #1.pdf']);
  });

  it('knows its own links, and answers null for a file that is not there or a link that is not its own', async () => {
    expect(store.owns('https://files.example.com/helpdesk/x')).toBe(true);
    expect(store.owns('https://acme.freshdesk.com/attachments/1')).toBe(false);
    expect(await store.sizeOf(store.linkFor('zendesk-12/901/none.pdf'))).toBeNull();
    expect(await store.sizeOf('https://acme.freshdesk.com/attachments/1')).toBeNull();
  });

  // Regression guard: a file name from the source must never write outside the location.
  it('keeps every key inside its directory', async () => {
    const link = await store.put('../../escape/../x', new Uint8Array([9]));
    expect(link.startsWith('https://files.example.com/helpdesk/')).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['_', 'zendesk-12']);
    expect(await store.sizeOf(link)).toBe(1);
  });
});
