import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { request } from 'undici';

/** What the proxy does to a request a rule matches. */
export type Fault =
  /** The upstream answer, its body cut to `keep` of its length (default half), sent whole as far as HTTP goes. */
  | { kind: 'truncate'; keep?: number }
  /** Status and headers, then one byte every `everyMs`, never finishing. */
  | { kind: 'trickle'; everyMs: number }
  /** Reads the request and never answers. */
  | { kind: 'hang' }
  /** The upstream answer with its JSON body replaced by `rewrite(body)`. */
  | { kind: 'rewrite'; rewrite: (body: Record<string, unknown>, url: URL) => unknown }
  /** A canned answer instead of the upstream one. */
  | { kind: 'answer'; status: number; body: unknown; headers?: Record<string, string> }
  /** The connection dropped before the request reached the platform. */
  | { kind: 'reset' }
  /** The platform carries the request out, then the connection drops before its answer arrives. */
  | { kind: 'lose-answer' }
  /** The platform carries the request out, then a gateway answers 502 in its place. */
  | { kind: 'gateway-error' };

export interface FaultRule {
  method?: string;
  /** Matched against the path and query, e.g. `/comments\.json/`. */
  path: RegExp;
  /** Only requests whose body contains this text. */
  bodyIncludes?: string;
  /** Requests the rule applies to before it retires. Default: every one. */
  times?: number;
  /** Chance that a matching request is hit, 0–1. Default 1. */
  probability?: number;
  fault: Fault;
}

export interface FaultProxy {
  url: string;
  add(rule: FaultRule): void;
  clear(): void;
  /** Requests the proxy received whose path and query match. */
  hits(path: RegExp): number;
  /** Requests a fault was applied to. */
  faulted(): number;
  /** Requests each kind of fault was applied to (canned answers as `answer <status>`). */
  counts(): Record<string, number>;
  /** Stops listening and cuts every open connection (an outage: new connections are refused). */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

/**
 * An HTTP proxy in front of a sandbox that answers like a bad network or a misbehaving platform for
 * the requests its rules match, and passes everything else through. The sandbox's own origin in
 * bodies and headers (next-page links) is rewritten to the proxy's, so a client never leaves it.
 */
export async function faultProxy(upstream: string, options: { random?: () => number } = {}): Promise<FaultProxy> {
  const random = options.random ?? Math.random;
  const counts: Record<string, number> = {};
  const upstreamOrigin = new URL(upstream).origin;
  const rules: (FaultRule & { left: number })[] = [];
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let faulted = 0;
  let origin = '';

  const relay = (text: string) => text.split(upstreamOrigin).join(origin);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const pathAndQuery = req.url ?? '/';
    seen.push(pathAndQuery);
    const rule = rules.find(
      (r) =>
        r.left > 0 &&
        (!r.method || r.method === req.method) &&
        r.path.test(pathAndQuery) &&
        (!r.bodyIncludes || body.toString('utf8').includes(r.bodyIncludes)) &&
        (r.probability === undefined || random() < r.probability),
    );
    if (rule) {
      rule.left -= 1;
      faulted += 1;
      const label = rule.fault.kind === 'answer' ? `answer ${rule.fault.status}` : rule.fault.kind;
      counts[label] = (counts[label] ?? 0) + 1;
    }
    const fault = rule?.fault;
    if (fault?.kind === 'hang') return;
    if (fault?.kind === 'reset') return void req.socket.destroy();
    if (fault?.kind === 'answer') {
      res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
      res.end(JSON.stringify(fault.body));
      return;
    }
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.headers)) {
      if (value === undefined || ['host', 'connection', 'content-length', 'transfer-encoding'].includes(key)) continue;
      headers[key] = Array.isArray(value) ? value.join(', ') : value;
    }
    const up = await request(`${upstreamOrigin}${pathAndQuery}`, {
      method: req.method as 'GET',
      headers,
      body: body.length > 0 ? body : undefined,
    });
    const raw = Buffer.from(await up.body.arrayBuffer());
    const textual = /json|text|xml/i.test(String(up.headers['content-type'] ?? ''));
    let payload = textual ? Buffer.from(relay(raw.toString('utf8')), 'utf8') : raw;
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(up.headers)) {
      if (value === undefined || ['connection', 'content-length', 'transfer-encoding', 'keep-alive'].includes(key)) continue;
      out[key] = relay(Array.isArray(value) ? value.join(', ') : value);
    }
    if (fault?.kind === 'rewrite') {
      payload = Buffer.from(JSON.stringify(fault.rewrite(JSON.parse(payload.toString('utf8')), new URL(pathAndQuery, origin))), 'utf8');
    }
    if (fault?.kind === 'lose-answer') return void req.socket.destroy();
    if (fault?.kind === 'gateway-error') return void res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body>502 Bad Gateway</body></html>');
    if (fault?.kind === 'truncate') payload = payload.subarray(0, Math.floor(payload.length * (fault.keep ?? 0.5)));
    if (fault?.kind === 'trickle') {
      res.writeHead(up.statusCode, out);
      let i = 0;
      // The body's bytes but its last, then JSON whitespace: never a complete body, never a silence.
      const timer = setInterval(() => {
        if (res.destroyed) return void clearInterval(timer);
        res.write(i < payload.length - 1 ? payload.subarray(i, i + 1) : ' ');
        i += 1;
      }, fault.everyMs);
      timers.add(timer);
      return;
    }
    res.writeHead(up.statusCode, { ...out, 'content-length': String(payload.length) });
    res.end(payload);
  };

  const listen = async (port: number) => {
    const server = createServer((req, res) => {
      handle(req, res).catch(() => req.socket.destroy());
    });
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return server;
  };
  let server = await listen(0);
  const port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
  const stop = async () => {
    for (const timer of timers) clearInterval(timer);
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };

  return {
    url: origin,
    add: (rule) => void rules.push({ ...rule, left: rule.times ?? Number.POSITIVE_INFINITY }),
    clear: () => void rules.splice(0),
    hits: (path) => seen.filter((p) => path.test(p)).length,
    faulted: () => faulted,
    counts: () => ({ ...counts }),
    down: stop,
    async up() {
      server = await listen(port);
    },
    close: stop,
  };
}
