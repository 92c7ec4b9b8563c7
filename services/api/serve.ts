import { resolve } from 'node:path';
import type { Output } from '../common/output.ts';
import { buildApi } from './app.ts';
import { ROLES, TokenStore, type Role } from './tokens.ts';

/** Default state directory of the API: tokens and the migrations created through it. */
export const DEFAULT_API_STATE_DIR = '.hdm/api';

export interface ServeApiFlags {
  config?: string[];
  clickhouseUrl?: string;
  port: number;
  host: string;
  stateDir: string;
  json?: boolean;
  /** Event streams open at once, overall and per token (defaults in EVENT_STREAM_DEFAULTS). */
  maxEventStreams?: number;
  maxEventStreamsPerToken?: number;
}

/** `hdm serve api`: the HTTP API and the dashboard, until SIGINT/SIGTERM. */
export async function serveApiCommand(flags: ServeApiFlags, io: Output, env = process.env): Promise<{ url: string; close(): Promise<void> }> {
  const stateDir = resolve(flags.stateDir);
  const { app, registry, tokens } = buildApi({ stateDir, configFiles: (flags.config ?? []).map((f) => resolve(f)), clickhouseUrl: flags.clickhouseUrl, env, eventStreams: { maxStreams: flags.maxEventStreams, maxStreamsPerToken: flags.maxEventStreamsPerToken } });
  const address = await app.listen({ port: flags.port, host: flags.host });
  const url = address.replace('[::1]', 'localhost');
  const names = registry.list().map((h) => h.name);
  if (flags.json) io.out(JSON.stringify({ url, dashboard: `${url}/dashboard/`, migrations: names, stateDir }));
  else {
    io.out(`hdm api listening on ${url}`);
    io.out(`dashboard: ${url}/dashboard/ · metrics: ${url}/metrics`);
    io.out(`migrations: ${names.length ? names.join(', ') : '(none yet: POST /api/migrations)'}`);
    if (tokens.list().length === 0) io.err(`no tokens yet: create the first with  hdm token create --role admin --state-dir ${flags.stateDir}`);
  }
  return { url, close: () => app.close() };
}

export function tokenCreateCommand(flags: { role: string; label?: string; stateDir: string; json?: boolean }, io: Output): number {
  const store = new TokenStore(resolve(flags.stateDir));
  const { token, info } = store.create(flags.role as Role, flags.label ?? '');
  if (flags.json) io.out(JSON.stringify({ token, ...info }));
  else {
    io.out(token);
    io.err(`${info.role} token ${info.id} created in ${store.file}; it is shown only this once: keep it in a secret store`);
  }
  return 0;
}

export function tokenListCommand(flags: { stateDir: string; json?: boolean }, io: Output): number {
  const list = new TokenStore(resolve(flags.stateDir)).list();
  if (flags.json) io.out(JSON.stringify(list, null, 2));
  else if (list.length === 0) io.out('no tokens');
  else for (const t of list) io.out(`${t.id}  ${t.role.padEnd(8)} ${t.createdAt}  ${t.label}`);
  return 0;
}

export function tokenRevokeCommand(id: string, flags: { stateDir: string }, io: Output): number {
  const revoked = new TokenStore(resolve(flags.stateDir)).revoke(id);
  io.out(revoked ? `revoked ${id}` : `no token with id ${id}`);
  return revoked ? 0 : 1;
}

export { ROLES };
