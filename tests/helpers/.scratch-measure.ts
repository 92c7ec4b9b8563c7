import { migrationEnv, migrateJson, verifyJson } from './migration-env.ts';
const [from, to, tickets, unthrottled] = process.argv.slice(2);
const t0 = Date.now();
const m = await migrationEnv(from, to, { tickets: Number(tickets), seed: 7, articles: 6, ...(unthrottled ? { unthrottled: 'measuring the request count' } : {}) });
try {
  const r = await migrateJson(m);
  const t1 = Date.now();
  console.log('migrate', r.code, ((t1 - t0) / 1000).toFixed(1), 's');
  const v = await verifyJson(m);
  console.log('verify', v.code, ((Date.now() - t1) / 1000).toFixed(1), 's');
  for (const sb of [m.source, m.target] as any[]) {
    console.log(sb.platform, 'served', sb.requestsServed(), JSON.stringify(sb.limitStats?.()));
    const routes = sb.requestsByRoute?.() ?? Object.fromEntries(sb.requestLog?.() ?? []);
    console.log(JSON.stringify(Object.entries(routes).sort((a: any, b: any) => b[1] - a[1]).slice(0, 12)));
  }
} finally { await m.close(); }
