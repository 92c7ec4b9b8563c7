import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rt } from '../../../connectors/rt/index.ts';
import type { Connector } from '../../../connectors/sdk/contract.ts';
import type { RunningSandbox } from '../../../connectors/sdk/platform.ts';
import type { Ticket } from '../../../schemas/canonical.ts';
import { htmlText } from '../../../schemas/projection.ts';
import { FRESHDESK_CAPABILITIES } from '../../../connectors/freshdesk/freshdesk.writer.ts';
import { mapRecord } from '../../../services/mapper/record.mapping.ts';

// Tickets that arrived by email, fed to a real RT 5 through its mail gateway (what rt-mailgate
// posts to), then read back through the connector. root@localhost is RT's root user, so the
// gateway's sender may create tickets without granting rights to unknown senders.
let sb: RunningSandbox;
let c: Connector;

async function mail(message: string, extra: Record<string, string> = {}): Promise<void> {
  const form = new FormData();
  form.set('queue', 'General');
  form.set('action', 'correspond');
  for (const [k, v] of Object.entries(extra)) form.set(k, v);
  form.set('message', message.replace(/\n/g, '\r\n'));
  const res = await fetch(`${sb.url}/REST/1.0/NoAuth/mail-gateway`, { method: 'POST', body: form });
  const text = await res.text();
  expect(text, 'mail gateway answer').toMatch(/^ok/);
}

async function ticketBySubject(subject: string): Promise<Ticket> {
  for await (const page of c.read('ticket', null)) {
    for (const e of page.records) if ((e.record as Ticket).subject === subject) return e.record as Ticket;
  }
  throw new Error(`no ticket "${subject}"`);
}

const FORWARD = `From: Root <root@localhost>
To: rt@hdm.invalid
Subject: Forwarded with a footer
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: text/plain; charset=utf-8

Please look at the message below.
--outer
Content-Type: message/rfc822

From: Alice Customer <alice@example.com>
To: support@example.com
Subject: The printer is on fire
Date: Mon, 1 Jan 2024 10:00:00 +0000
Content-Type: text/plain; charset=utf-8

It started smoking at nine.
--outer
Content-Type: text/plain; charset=utf-8

--
Support-list footer: unsubscribe at lists.example.com
--outer--
`;

const NESTED = `From: Root <root@localhost>
To: rt@hdm.invalid
Subject: Alternative, forwarded multipart, signature
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

Plain rendering of the intro.
--alt
Content-Type: text/html; charset=utf-8

<p>HTML rendering of the <b>intro</b>.</p>
--alt--
--outer
Content-Type: message/rfc822

From: Bob Vendor <bob@vendor.example>
To: root@localhost
Cc: billing@vendor.example
Subject: Invoice 42
Date: Tue, 2 Jan 2024 11:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="inner"

--inner
Content-Type: text/plain; charset=utf-8

The invoice is attached.
--inner
Content-Type: application/pdf; name="invoice-42.pdf"
Content-Disposition: attachment; filename="invoice-42.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcOkw7zDtsOfCg==
--inner--
--outer
Content-Type: text/plain; charset=utf-8

Kind regards,
The signature block
--outer
Content-Type: image/png
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--outer--
`;

const INLINE_IMAGE = `From: Root <root@localhost>
To: rt@hdm.invalid
Subject: Screenshot inline
MIME-Version: 1.0
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8

<p>Here is the error:</p><p><img src="cid:shot-1@mail.example" alt="screenshot"></p><p>Thanks</p>
--rel
Content-Type: image/png; name="screenshot.png"
Content-Disposition: inline; filename="screenshot.png"
Content-ID: <shot-1@mail.example>
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--rel--
`;

beforeAll(async () => {
  sb = await rt.startSandbox({ tickets: 0 });
  c = rt.createConnector({ url: sb.url, credentials: sb.credentials });
  await mail(FORWARD);
  await mail(NESTED);
  await mail(INLINE_IMAGE);
});
afterAll(async () => {
  await c?.close();
  await sb?.close();
});

describe('RT reader: every MIME part of a mailed message arrives', () => {
  it('forwarded emails and extra text parts are not lost: text in order, the forward as its headers and body', async () => {
    const t = await ticketBySubject('Forwarded with a footer');
    expect(t.comments).toHaveLength(1);
    const text = htmlText(t.comments[0].body);
    const expected = [
      'Please look at the message below.',
      'Forwarded message',
      'From: "Alice Customer" <alice@example.com>',
      'Date: Mon, 1 Jan 2024 10:00:00 +0000',
      'Subject: The printer is on fire',
      'It started smoking at nine.',
      'Support-list footer: unsubscribe at lists.example.com',
    ];
    let at = -1;
    for (const part of expected) {
      const found = text.indexOf(part, at + 1);
      expect(found, `"${part}" after position ${at} in: ${text}`).toBeGreaterThan(at);
      at = found;
    }
    expect(t.comments[0].attachments).toEqual([]);
  });

  it('keeps the richest alternative once, a forwarded multipart with its file, the signature and an unnamed image', async () => {
    const t = await ticketBySubject('Alternative, forwarded multipart, signature');
    const [comment] = t.comments;
    const text = htmlText(comment.body);
    expect(comment.body).toContain('<b>intro</b>');
    expect(text).not.toContain('Plain rendering of the intro.');
    const expected = ['HTML rendering of the intro.', 'From: "Bob Vendor" <bob@vendor.example>', 'Subject: Invoice 42', 'Cc: billing@vendor.example', 'The invoice is attached.', 'The signature block'];
    let at = -1;
    for (const part of expected) {
      const found = text.indexOf(part, at + 1);
      expect(found, `"${part}" in: ${text}`).toBeGreaterThan(at);
      at = found;
    }
    const files = comment.attachments.map((a) => ({ fileName: a.fileName, contentType: a.contentType }));
    expect(files).toHaveLength(2);
    expect(files[0]).toEqual({ fileName: 'invoice-42.pdf', contentType: 'application/pdf' });
    expect(files[1].fileName).toMatch(/^part-\d+\.png$/);
    expect(files[1].contentType).toBe('image/png');
    const pdf = await c.openAttachment(comment.attachments[0]);
    expect(Buffer.from(pdf.body).toString('latin1')).toMatch(/^%PDF-1\.4/);
  });

  it('an inline image\'s cid: reference names the attachment it points at, so a target can re-link or replace it', async () => {
    const t = await ticketBySubject('Screenshot inline');
    const [comment] = t.comments;
    expect(comment.attachments).toHaveLength(1);
    const [image] = comment.attachments;
    expect(image).toMatchObject({ fileName: 'screenshot.png', inline: true });
    expect(comment.body).not.toContain('cid:');
    expect(comment.body).toContain(`src="inline:${image.sourceId}"`);
    // Into a target without inline images (Freshdesk): a short pointer at the attachment, no broken reference.
    const planned = mapRecord('ticket', t, { capabilities: FRESHDESK_CAPABILITIES, skipAttachments: false, statusMap: {}, priorityMap: {}, typeMap: {} });
    if (planned.kind !== 'planned') throw new Error('filtered');
    expect(planned.record.comments[0].body).toContain('[image: screenshot.png]');
    expect(planned.record.comments[0].body).not.toContain('<img');
    expect(planned.record.comments[0].attachments[0]).toMatchObject({ fileName: 'screenshot.png', inline: false });
  });
});
