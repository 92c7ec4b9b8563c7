import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { attachmentContent, fakeHelpdesk, type FakeHelpdesk } from '../sdk/fake-helpdesk.ts';
import { htmlText } from '../../schemas/projection.ts';
import { RT_CONTENT_FIELD } from './rt.articles.ts';
import type { RunningSandbox, SandboxOptions } from '../sdk/platform.ts';
import type { WriteContext } from '../sdk/contract.ts';
import { ENTITIES, type Agent, type Contact, type EntityName, type Ticket } from '../../schemas/canonical.ts';
import { destroyRt, ensureRt } from '../../tools/launcher/rt.launcher.ts';
import { RtConnector } from './rt.connector.ts';
import { RT_INTERNAL_FIELDS, RT_TARGET_STATUSES, sqlTime, STATUS_TO_RT } from './rt.mapping.ts';

let sandboxes = 0;

/** Exact record counts, read from the instance's SQLite file (RunningSandbox.counts() is synchronous). */
function countRecords(db: string): Record<EntityName, number> {
  const internal = [...RT_INTERNAL_FIELDS].map((n) => `'${n}'`).join(',');
  const privileged = `SELECT gm.MemberId FROM GroupMembers gm JOIN Groups g ON g.id = gm.GroupId WHERE g.Domain = 'SystemInternal' AND g.Name = 'Privileged'`;
  const sql = [
    `SELECT count(*) FROM Queues WHERE Disabled = 0 AND substr(Name, 1, 3) != '___'`,
    `SELECT count(*) FROM Users WHERE Name NOT IN ('RT_System', 'Nobody') AND id IN (${privileged})`,
    `SELECT count(*) FROM Users WHERE Name NOT IN ('RT_System', 'Nobody') AND id NOT IN (${privileged})`,
    `SELECT count(*) FROM CustomFields WHERE LookupType = 'RT::Queue-RT::Ticket' AND Name NOT IN (${internal}) AND Description NOT LIKE 'hdm:duplicate-of=%'`,
    `SELECT count(*) FROM Tickets WHERE Status != 'deleted' AND Type = 'ticket' AND id = EffectiveId`,
    `SELECT count(*) FROM Classes WHERE Disabled = 0`,
    `SELECT count(*) FROM Articles WHERE Disabled = 0`,
  ].join(' UNION ALL ');
  const out = spawnSync('sqlite3', ['-cmd', '.timeout 10000', '-readonly', db, sql], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`sqlite3 could not count records in ${db}: ${out.stderr}`);
  const [group, agent, contact, ticketField, ticket, classes, kbArticle] = out.stdout.trim().split('\n').map(Number);
  const counts = Object.fromEntries(ENTITIES.map((e) => [e, 0])) as Record<EntityName, number>;
  // Each class reads as a KB category holding one section.
  return { ...counts, group, agent, contact, ticketField, ticket, kbCategory: classes, kbSection: classes, kbArticle };
}

/**
 * A real RT server (not a simulation): a fresh instance on its own copy of the pristine database,
 * seeded through REST2 from the fake helpdesk when `tickets > 0`. RT has no API rate limit, so
 * `requestsPerMinute` is ignored.
 */
export async function startRtSandbox(options: SandboxOptions = {}): Promise<RunningSandbox> {
  const name = `sandbox-${process.pid}-${++sandboxes}`;
  const rt = await ensureRt({ name, port: options.port ?? 0, accessLog: true });
  const baseline = requestLines(rt.accessLog);
  const tickets = options.tickets ?? 0;
  if (tickets > 0) {
    const connector = new RtConnector({ url: rt.url, credentials: rt.credentials, concurrency: 6 });
    try {
      await seed(connector, { seed: options.seed ?? 1, tickets, articles: options.articles ?? 20, maxComments: options.maxComments ?? 6 }, rt.db);
    } catch (err) {
      await connector.close();
      await destroyRt({ name });
      throw err;
    }
    await connector.close();
  }
  return {
    platform: 'rt',
    url: rt.url,
    credentials: rt.credentials,
    env: { RT_TOKEN: rt.token },
    counts: () => countRecords(rt.db),
    requestsServed: () => requestLines(rt.accessLog) - baseline,
    close: () => destroyRt({ name }),
  };
}

function requestLines(file: string | null): number {
  if (!file || !existsSync(file)) return 0;
  const text = readFileSync(file, 'utf8');
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * Loads a fake helpdesk into RT through the connector's own writer, translating references the way
 * the loader does. Deactivated agents become disabled RT users; the deleted one is left out.
 */
export async function seed(connector: RtConnector, options: { seed: number; tickets: number; articles: number; maxComments: number }, db?: string): Promise<void> {
  const history: { txn: string; author: string; at: string }[] = [];
  const tickets: { id: string; at: string }[] = [];
  const helpdesk = fakeHelpdesk({ seed: options.seed, tickets: options.tickets, articles: options.articles, maxComments: options.maxComments });
  const ids = { group: new Map<string, string>(), user: new Map<string, string>() };
  const context = (stamp: string): WriteContext => ({
    stamp,
    knownChildren: {},
    openAttachment: async (a) => ({ body: attachmentContent(a), contentType: a.contentType }),
  });
  await connector.prepare({ ticketFields: helpdesk.ticketFields });
  for (const g of helpdesk.groups) ids.group.set(g.sourceId, (await connector.create('group', g, context(`seed:${g.sourceId}`))).targetId);
  const people: [('agent' | 'contact'), Agent | Contact][] = [
    ...helpdesk.agents.filter((a) => !a.deleted).map((a) => ['agent', a] as ['agent', Agent]),
    ...helpdesk.contacts.map((c) => ['contact', c] as ['contact', Contact]),
  ];
  await parallel(people, 4, async ([entity, person]) => {
    const ref = await connector.create(entity, person, context(`seed-${person.sourceId}`));
    ids.user.set(person.sourceId, ref.targetId);
  });
  const activeAgent = helpdesk.agents.find((a) => a.active)!;
  const indexes = Array.from({ length: helpdesk.ticketCount }, (_, i) => i);
  await parallel(indexes, 4, async (i) => {
    const t = helpdesk.ticket(i);
    const user = (id: string | null) => (id === null ? null : (ids.user.get(id) ?? null));
    // Disabled agents cannot own tickets in RT: their tickets go to the first active agent.
    const owner = t.assigneeId && helpdesk.agents.find((a) => a.sourceId === t.assigneeId)?.active ? t.assigneeId : t.assigneeId ? activeAgent.sourceId : null;
    const status = RT_TARGET_STATUSES.includes(t.status) ? t.status : (Object.entries(STATUS_TO_RT).find(([, rt]) => rt === STATUS_TO_RT[t.status])![0] as Ticket['status']);
    const planned: Ticket = {
      ...t,
      status,
      requesterId: user(t.requesterId),
      assigneeId: user(owner),
      groupId: t.groupId ? (ids.group.get(t.groupId) ?? null) : null,
      organizationId: null,
      // What the deleted agent wrote shows as the first active agent's, as a default agent would.
      comments: t.comments.map((c) => ({ ...c, authorId: user(c.authorId) ?? user(activeAgent.sourceId) })),
    };
    const ref = await connector.create('ticket', planned, context(''));
    tickets.push({ id: ref.targetId, at: t.createdAt });
    for (const comment of planned.comments) {
      const txn = ref.children?.[comment.sourceId];
      if (txn && comment.authorId) history.push({ txn, author: comment.authorId, at: comment.createdAt });
    }
  });
  const articles = await seedArticles(connector, helpdesk, ids.user);
  if (db) backdate(db, { tickets, history, articles });
}

/**
 * RT Articles from the fake KB: one Class per category (RT has no sections), each article's body
 * as plain text in the stock `Content` field (a Text field), source locale only.
 */
async function seedArticles(connector: RtConnector, helpdesk: FakeHelpdesk, users: Map<string, string>): Promise<{ id: string; author: string | null; created: string; updated: string }[]> {
  if (helpdesk.kbArticles.length === 0) return [];
  const classOf = new Map<string, string>();
  for (const category of helpdesk.kbCategories) {
    const res = await connector.client.post<{ id: string }>('class', { Name: category.name, Description: category.description ?? '', SortOrder: category.position });
    classOf.set(category.sourceId, String(res.body.id));
  }
  const sectionClass = new Map(helpdesk.kbSections.map((s) => [s.sourceId, classOf.get(s.categoryId)!]));
  const created: { id: string; author: string | null; created: string; updated: string }[] = [];
  for (const article of helpdesk.kbArticles) {
    const res = await connector.client.post<{ id: string }>('article', {
      Name: article.title,
      Class: sectionClass.get(article.sectionId),
      SortOrder: article.position,
      // One line per heading, paragraph or list item, as an author typing into a Text field would.
      CustomFields: { [RT_CONTENT_FIELD]: article.body.split(/<\/(?:h\d|p|li)>/i).map(htmlText).filter(Boolean).join('\n') },
    });
    created.push({ id: String(res.body.id), author: article.authorId ? (users.get(article.authorId) ?? null) : null, created: article.createdAt, updated: article.updatedAt });
  }
  return created;
}

/**
 * REST2 makes the token's user the author of every transaction, at the time of the call, and RT's
 * patched releases also stamp each ticket's Created with that time. A helpdesk that grew from mail has
 * its customers' and agents' own history: the seed writes the original authors and times straight into
 * the sandbox's database, as RT would have recorded them.
 */
function backdate(
  db: string,
  seeded: {
    tickets: { id: string; at: string }[];
    history: { txn: string; author: string; at: string }[];
    articles: { id: string; author: string | null; created: string; updated: string }[];
  },
): void {
  const { tickets, history, articles } = seeded;
  if (tickets.length === 0 && history.length === 0 && articles.length === 0) return;
  const sql = ['BEGIN;'];
  for (const t of tickets) sql.push(`UPDATE Tickets SET Created = '${sqlTime(t.at)}' WHERE id = ${Number(t.id)};`);
  for (const a of articles) {
    const creator = a.author ? `, Creator = ${Number(a.author)}` : '';
    sql.push(`UPDATE Articles SET Created = '${sqlTime(a.created)}', LastUpdated = '${sqlTime(a.updated)}'${creator} WHERE id = ${Number(a.id)};`);
  }
  for (const h of history) {
    const at = sqlTime(h.at);
    const author = Number(h.author);
    const txn = Number(h.txn);
    sql.push(`UPDATE Transactions SET Creator = ${author}, Created = '${at}' WHERE id = ${txn};`);
    sql.push(`UPDATE Attachments SET Creator = ${author}, Created = '${at}' WHERE TransactionId = ${txn};`);
  }
  sql.push('COMMIT;');
  const out = spawnSync('sqlite3', ['-cmd', '.timeout 10000', db], { input: sql.join('\n'), encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`sqlite3 could not backdate the seeded history in ${db}: ${out.stderr}`);
}

async function parallel<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}
