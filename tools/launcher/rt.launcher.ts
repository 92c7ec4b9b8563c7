import { spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serviceStateDir } from './instance.ts';
import { withLock } from './lock.ts';
import { freePort, portFree, readJson, run, sleep, stateFile, stillServing, stopPid as stopProcessGroup, tail } from './process.ts';

/**
 * Installs Request Tracker 5 from Debian's packages, initialises a pristine SQLite database once,
 * and runs named instances of RT's standalone server on loopback ports, each on its own copy of
 * that database. Everything lives under a project-local state directory (`.services/rt`).
 */

/** Debian packages the launcher installs. `dma` satisfies RT's mail-transport-agent dependency without a daemon. */
export const RT_PACKAGES = ['request-tracker5', 'rt5-db-sqlite', 'rt5-standalone', 'dma', 'dbconfig-no-thanks', 'w3m'] as const;

/** Answers for the packages' debconf questions, so a non-interactive install never waits on a prompt. */
const DEBCONF_PRESEED = [
  'request-tracker5 request-tracker5/dbconfig-install boolean false',
  'request-tracker5 request-tracker5/install-database boolean false',
  'rt5-db-sqlite rt5-db-sqlite/dbconfig-install boolean false',
  'dma dma/mailname string localhost',
  'dma dma/relayhost string',
].join('\n');

const RT_LIB = '/usr/share/request-tracker5/lib';
const RT_SERVER = '/usr/share/request-tracker5/libexec/rt-server';
const RT_SETUP_DATABASE = '/usr/sbin/rt-setup-database';
/** Bumped whenever the pristine database's recipe changes, so old pristine copies are rebuilt. */
const PRISTINE_VERSION = '5';


export interface RtLaunchOptions {
  /** Instance name: each name has its own database copy, port and server process. Default `default`. */
  name?: string;
  /** Port to listen on; 0 keeps the instance's previous port or picks a free one. Default 0. */
  port?: number;
  /** State directory. Default `$HDM_SERVICES_DIR/rt` or `<repo>/.services/rt`. */
  stateDir?: string;
  /** Starlet worker processes. Default 3. */
  workers?: number;
  /** Milliseconds to wait for the server to answer. Default 60000. */
  startTimeoutMs?: number;
  /** Progress lines (install, init, start). Default: none. */
  log?: (line: string) => void;
  /** Write an access log (one line per request) to `<instance dir>/access.log`. Default false. */
  accessLog?: boolean;
  /**
   * Perl lines added to the instance's configuration (e.g. `Set(%Lifecycles, …)`), in effect from
   * the next start of its server. Default: none.
   */
  siteConfig?: string;
}

export interface RtInstance {
  name: string;
  /** Base URL of RT (the REST2 API is at `${url}/REST/2.0`). */
  url: string;
  /** An auth token for `root`, sent as `Authorization: token <token>`. */
  token: string;
  /** Credentials in the rt connector's shape. */
  credentials: { token: string };
  port: number;
  pid: number;
  dir: string;
  /** The instance's SQLite database (read it with the sqlite3 CLI for exact counts). */
  db: string;
  /** The access log when `accessLog` was asked for, else null. */
  accessLog: string | null;
  /** Milliseconds each step took in this call (0 when it was already done). */
  timings: { installMs: number; initMs: number; startMs: number };
  /** Puts the pristine database back and restarts the server on the same port. */
  reset(): Promise<void>;
  /** Stops the server (the instance's files stay). */
  stop(): Promise<void>;
}

interface InstanceState {
  pid: number;
  port: number;
}

export function rtStateDir(stateDir?: string): string {
  return serviceStateDir('rt', stateDir);
}

/** True when every package RT needs is installed. */
export function rtInstalled(): boolean {
  const out = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\n', ...RT_PACKAGES], { encoding: 'utf8' });
  if (out.error) return false;
  const installed = new Set(
    out.stdout
      .split('\n')
      .filter((l) => l.endsWith(' installed'))
      .map((l) => l.split(' ')[0]),
  );
  return RT_PACKAGES.every((p) => installed.has(p)) && existsSync(RT_SERVER);
}

/**
 * Installs the Debian packages when any is missing: apt-get update, debconf preseeding, a
 * non-interactive install that never reads a terminal. Needs root (CI runs as root).
 */
export async function installRt(options: Pick<RtLaunchOptions, 'stateDir' | 'log'> = {}): Promise<number> {
  if (rtInstalled()) return 0;
  const dir = rtStateDir(options.stateDir);
  mkdirSync(dir, { recursive: true });
  return withLock(join(dir, 'install.lock'), async () => {
    if (rtInstalled()) return 0;
    if (process.getuid?.() !== 0) {
      throw new Error(`Request Tracker is not installed and installing it needs root: run as root, or install the packages first: apt-get install ${RT_PACKAGES.join(' ')}`);
    }
    const started = performance.now();
    const logFile = join(dir, 'install.log');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', DEBCONF_NONINTERACTIVE_SEEN: 'true', APT_LISTCHANGES_FRONTEND: 'none', NEEDRESTART_MODE: 'a' };
    options.log?.(`installing ${RT_PACKAGES.join(' ')} (log: ${logFile})`);
    run('apt-get', ['update', '-q'], { env, logFile });
    run('debconf-set-selections', [], { env, input: `${DEBCONF_PRESEED}\n`, logFile });
    run(
      'apt-get',
      ['install', '-y', '-q', '--no-install-recommends', '-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold', ...RT_PACKAGES],
      { env, logFile },
    );
    const ms = performance.now() - started;
    options.log?.(`installed in ${(ms / 1000).toFixed(1)}s`);
    return ms;
  });
}

function siteConfig(dir: string, port: number): string {
  const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return `# Written by the helpdesk-migrator launcher; regenerated at every start.
Set($rtname, 'hdm.test');
Set($Organization, 'helpdesk-migrator');
Set($CorrespondAddress, 'rt@hdm.invalid');
Set($CommentAddress, 'rt-comment@hdm.invalid');
Set($WebDomain, '127.0.0.1');
Set($WebPort, ${port});
Set($WebPath, '');
Set($WebBaseURL, 'http://127.0.0.1:${port}');
Set($DatabaseType, 'SQLite');
Set($DatabaseName, ${q(join(dir, 'rt5.db'))});
Set($Timezone, 'UTC');
Set($LogToSyslog, undef);
Set($LogToFile, undef);
Set($LogToSTDERR, 'warning');
# Outgoing mail (autoreplies, notifications) goes to an mbox file in var/, never to the network.
Set($MailCommand, 'mbox');
Set($MaxAttachmentSize, 64*1024*1024);
Set($DisallowExecuteCode, 1);
# REST2 checks the auth token with bcrypt on every request; at RT's default cost (12) that is about
# 0.3 s of CPU per request. A loopback test server does not need that.
Set($BcryptCost, 4);
$RT::VarPath = ${q(join(dir, 'var'))};
$RT::MasonDataDir = ${q(join(dir, 'mason'))};
$RT::MasonSessionDir = ${q(join(dir, 'sessions'))};
1;
`;
}

function prepareInstanceDir(dir: string, port: number): NodeJS.ProcessEnv {
  for (const sub of ['var', 'mason', 'sessions', 'site.d']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'RT_SiteConfig.pm'), siteConfig(dir, port));
  // RT_SITE_CONFIG_DIR replaces /etc/request-tracker5/RT_SiteConfig.d (syslog, /rt web path) with our own empty one.
  return { ...process.env, RT_SITE_CONFIG: join(dir, 'RT_SiteConfig.pm'), RT_SITE_CONFIG_DIR: join(dir, 'site.d'), PERL_LWP_SSL_VERIFY_HOSTNAME: '0' };
}

const GRANT_AND_TOKEN = `
use strict; use warnings;
use lib '${RT_LIB}';
use RT; RT::LoadConfig(); RT::Init();
my $privileged = RT::Group->new(RT->SystemUser);
$privileged->LoadSystemInternalGroup('Privileged');
# Agents (privileged users) must be able to own and work tickets, as on any real RT.
for my $right (qw(OwnTicket ShowTicket SeeQueue CreateTicket ReplyToTicket CommentOnTicket ModifyTicket ShowTicketComments Watch WatchAsAdminCc SeeCustomField ModifyCustomField)) {
  my ($ok, $msg) = $privileged->PrincipalObj->GrantRight(Right => $right, Object => RT->System);
  die "grant $right: $msg\\n" unless $ok;
}
# Scrips that compose notification mail cost about a second per message and only fill an mbox here;
# the status-changing scrips (open on reply, reopen inactive tickets) stay on.
my $scrips = RT::Scrips->new(RT->SystemUser);
$scrips->UnLimit;
while (my $scrip = $scrips->Next) {
  next unless ($scrip->ActionObj->ExecModule || '') =~ /^(Notify|NotifyAsComment|NotifyGroup|NotifyGroupAsComment|Autoreply|SendForward)$/;
  my ($ok, $msg) = $scrip->SetDisabled(1);
  die "disable scrip: $msg\n" unless $ok;
}
my $root = RT::User->new(RT->SystemUser);
$root->Load('root') or die "no root user\\n";
my $token = RT::AuthToken->new(RT::CurrentUser->new($root));
my ($id, $msg, $auth) = $token->Create(Owner => $root->Id, Description => 'helpdesk-migrator launcher');
die "token: $msg\\n" unless $id;
print "$auth\\n";
`;

/** Builds the pristine database once (schema, core data, agent rights, a root token). */
export async function initPristine(options: Pick<RtLaunchOptions, 'stateDir' | 'log'> = {}): Promise<{ db: string; token: string; ms: number }> {
  const dir = rtStateDir(options.stateDir);
  const pristine = join(dir, 'pristine');
  const db = join(pristine, 'rt5.db');
  const tokenFile = join(pristine, 'token');
  const versionFile = join(pristine, 'version');
  const ready = () => existsSync(db) && existsSync(tokenFile) && existsSync(versionFile) && readFileSync(versionFile, 'utf8').trim() === PRISTINE_VERSION;
  mkdirSync(dir, { recursive: true });
  if (ready()) return { db, token: readFileSync(tokenFile, 'utf8').trim(), ms: 0 };
  return withLock(join(dir, 'pristine.lock'), async () => {
    if (ready()) return { db, token: readFileSync(tokenFile, 'utf8').trim(), ms: 0 };
    const started = performance.now();
    rmSync(pristine, { recursive: true, force: true });
    const env = prepareInstanceDir(pristine, 0);
    const logFile = join(dir, 'init.log');
    options.log?.(`initialising the pristine RT database (log: ${logFile})`);
    run(RT_SETUP_DATABASE, ['--action', 'init', '--skip-create'], { env, logFile });
    const out = run('perl', ['-e', GRANT_AND_TOKEN], { env, logFile });
    const token = out.trim().split('\n').pop() ?? '';
    if (!/^\d+-\d+-[0-9a-f]+$/.test(token)) throw new Error(`RT did not return an auth token (log: ${logFile})`);
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    writeFileSync(versionFile, `${PRISTINE_VERSION}\n`);
    const ms = performance.now() - started;
    options.log?.(`pristine database ready in ${(ms / 1000).toFixed(1)}s`);
    return { db, token, ms };
  });
}

async function healthy(url: string, token: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/REST/2.0/rt`, { headers: { authorization: `token ${token}` }, signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** The server runs in its own process group: its Starlet workers stop with it (SIGKILL after 5 s). */
const stopServer = (pid: number) => stopProcessGroup(pid, 5_000);

/**
 * Debian's rt-server prints its usage and exits when any argument contains "help", so no argument
 * may carry the checkout's path (a clone named `helpdesk-migrator` has one): files are named
 * relative to the instance directory, the server's working directory.
 */
export function rtServerArgs(port: number, workers: number, accessLog: boolean): string[] {
  return [RT_SERVER, '--server', 'Starlet', '--host', '127.0.0.1', '--port', String(port), '--max-workers', String(workers), ...(accessLog ? ['--access-log', 'access.log'] : [])];
}

async function startServer(dir: string, port: number, token: string, workers: number, timeoutMs: number, accessLog: boolean): Promise<InstanceState> {
  const env = prepareInstanceDir(dir, port);
  const logFile = join(dir, 'server.log');
  const logFd = openSync(logFile, 'a');
  const child = spawn('perl', rtServerArgs(port, workers, accessLog), { env, cwd: dir, detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  let exit: string | null = null;
  child.once('exit', (code, signal) => (exit = signal ? `was killed by ${signal}` : `exited with code ${code}`));
  child.once('error', (err) => (exit = `could not start: ${err.message}`));
  child.unref();
  const pid = child.pid ?? 0;
  const state = { pid, port };
  writeFileSync(join(dir, 'state.json'), JSON.stringify(state));
  const url = `http://127.0.0.1:${port}`;
  const started = Date.now();
  const deadline = started + timeoutMs;
  while (Date.now() < deadline && exit === null) {
    if (await healthy(url, token)) return state;
    await sleep(150);
  }
  if (exit !== null) {
    rmSync(join(dir, 'state.json'), { force: true });
    throw new Error(`RT's server ${exit} ${((Date.now() - started) / 1000).toFixed(1)} s after it started, before answering on port ${port}; its output (${logFile}):\n${tail(logFile, 2000)}`);
  }
  await stopServer(pid);
  throw new Error(`RT did not become healthy on port ${port} within ${timeoutMs} ms; server log (${logFile}):\n${tail(logFile, 2000)}`);
}

/**
 * Makes sure RT is installed, initialised and running as the named instance; reuses a healthy
 * running instance. Safe to call from several processes at once.
 */
export async function ensureRt(options: RtLaunchOptions = {}): Promise<RtInstance> {
  const name = options.name ?? 'default';
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`instance name "${name}": use letters, digits, dot, dash, underscore`);
  const root = rtStateDir(options.stateDir);
  const workers = options.workers ?? 3;
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const installMs = await installRt(options);
  const pristine = await initPristine(options);
  const dir = join(root, 'instances', name);
  mkdirSync(join(dir, 'site.d'), { recursive: true });
  if (options.siteConfig !== undefined) writeFileSync(join(dir, 'site.d', 'extra.pm'), `${options.siteConfig}\n1;\n`);

  return withLock(join(dir, 'instance.lock'), async () => {
    let startMs = 0;
    let state = readJson<InstanceState>(stateFile(dir));
    const wantedPort = options.port ?? 0;
    const reusable =
      state !== null && (wantedPort === 0 || wantedPort === state.port) && (await stillServing(state.pid, () => healthy(`http://127.0.0.1:${state!.port}`, pristine.token)));
    if (!reusable) {
      if (state) await stopServer(state.pid);
      if (!existsSync(join(dir, 'rt5.db'))) copyFileSync(pristine.db, join(dir, 'rt5.db'));
      const port = wantedPort || (state?.port && (await portFree(state.port)) ? state.port : await freePort());
      const started = performance.now();
      state = await startServer(dir, port, pristine.token, workers, timeoutMs, options.accessLog ?? false);
      startMs = performance.now() - started;
      options.log?.(`RT instance "${name}" listening on http://127.0.0.1:${port} (started in ${(startMs / 1000).toFixed(1)}s)`);
    }
    const current = state!;
    const instance: RtInstance = {
      name,
      url: `http://127.0.0.1:${current.port}`,
      token: pristine.token,
      credentials: { token: pristine.token },
      port: current.port,
      pid: current.pid,
      dir,
      db: join(dir, 'rt5.db'),
      accessLog: options.accessLog ? join(dir, 'access.log') : null,
      timings: { installMs, initMs: pristine.ms, startMs },
      async reset() {
        await withLock(join(dir, 'instance.lock'), async () => {
          const s = readJson<InstanceState>(stateFile(dir));
          if (s) await stopServer(s.pid);
          for (const f of ['rt5.db', 'rt5.db-journal']) rmSync(join(dir, f), { force: true });
          rmSync(join(dir, 'sessions'), { recursive: true, force: true });
          copyFileSync(pristine.db, join(dir, 'rt5.db'));
          rmSync(join(dir, 'access.log'), { force: true });
          const next = await startServer(dir, instance.port, pristine.token, workers, timeoutMs, options.accessLog ?? false);
          instance.pid = next.pid;
        });
      },
      async stop() {
        await stopRt({ name, stateDir: options.stateDir });
      },
    };
    return instance;
  });
}

/** Stops the named instance's server, if running. */
export async function stopRt(options: Pick<RtLaunchOptions, 'name' | 'stateDir'> = {}): Promise<void> {
  const dir = join(rtStateDir(options.stateDir), 'instances', options.name ?? 'default');
  const state = readJson<InstanceState>(stateFile(dir));
  if (state) await stopServer(state.pid);
  rmSync(join(dir, 'state.json'), { force: true });
}

/** Stops the instance and deletes its database copy, so the next start begins from the pristine one. */
export async function destroyRt(options: Pick<RtLaunchOptions, 'name' | 'stateDir'> = {}): Promise<void> {
  await stopRt(options);
  rmSync(join(rtStateDir(options.stateDir), 'instances', options.name ?? 'default'), { recursive: true, force: true });
}
