import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * What the proxy does to a request that matches. After the platform carried it out: `lose-answer`
 * drops the connection before the answer reaches the client (a dropped link, a proxy crash);
 * `gateway-error` answers 502 instead; `truncate` answers the platform's status with half its body
 * (and a length that matches it, so only the body's content shows the cut). Before it reaches the
 * platform: `server-error` answers 500 or 503, `rate-limit` 429 with Retry-After 1, `reset` drops the
 * connection.
 */
export type FaultKind = 'lose-answer' | 'gateway-error' | 'truncate' | 'server-error' | 'rate-limit' | 'reset';

const BEFORE: ReadonlySet<FaultKind> = new Set(['server-error', 'rate-limit', 'reset']);

export interface FaultRule {
  kind: FaultKind;
  method?: string;
  /** Matched against the request's path with its query string. */
  path: RegExp;
  /** How many matching requests to hit; Infinity for all. */
  times: number;
  /** Chance of hitting a matching request, 0–1. Default 1. */
  probability?: number;
}

export interface FaultProxy {
  /** Where clients connect instead of the platform. */
  readonly url: string;
  add(rule: FaultRule): void;
  clear(): void;
  /** Requests hit by a fault so far, by kind. */
  readonly hits: Record<FaultKind, number>;
  /** Stops listening and cuts every open connection (an outage: new connections are refused). */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

/**
 * An HTTP proxy in front of a sandbox or a real server that injects faults after the platform has
 * acted on a request — the failures a client cannot tell from "nothing happened".
 */
export async function startFaultProxy(upstream: string, options: { random?: () => number } = {}): Promise<FaultProxy> {
  const target = new URL(upstream);
  const random = options.random ?? Math.random;
  const rules: FaultRule[] = [];
  const hits: Record<FaultKind, number> = { 'lose-answer': 0, 'gateway-error': 0, truncate: 0, 'server-error': 0, 'rate-limit': 0, reset: 0 };
  const sockets = new Set<Socket>();
  let self = '';

  const pick = (req: IncomingMessage): FaultKind | null => {
    for (const rule of rules) {
      if (rule.times <= 0) continue;
      if (rule.method && rule.method !== req.method) continue;
      if (!rule.path.test(req.url ?? '')) continue;
      if (random() >= (rule.probability ?? 1)) continue;
      rule.times -= 1;
      hits[rule.kind] += 1;
      return rule.kind;
    }
    return null;
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const fault = pick(req);
    if (fault && BEFORE.has(fault)) {
      req.resume();
      if (fault === 'reset') req.socket.destroy();
      else if (fault === 'rate-limit') res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' }).end('{"error":"too many requests"}');
      else res.writeHead(random() < 0.5 ? 500 : 503, { 'content-type': 'application/json' }).end('{"error":"injected"}');
      return;
    }
    const headers = { ...req.headers, host: target.host };
    const forward = request(
      { protocol: target.protocol, hostname: target.hostname, port: target.port, method: req.method, path: req.url, headers },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => {
          if (fault === 'lose-answer') {
            req.socket.destroy();
            return;
          }
          if (fault === 'gateway-error') {
            res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body>502 Bad Gateway</body></html>');
            return;
          }
          let body = Buffer.concat(chunks);
          const headers = { ...answer.headers };
          // Links in answers (next pages, resource URLs) name the platform's own origin: through the
          // proxy, they name the proxy's, as a platform behind a gateway would.
          if (/json/.test(String(headers['content-type'] ?? '')) && body.includes(target.origin)) {
            body = Buffer.from(body.toString('utf8').split(target.origin).join(self));
            headers['content-length'] = String(body.length);
          }
          if (typeof headers.link === 'string') headers.link = headers.link.split(target.origin).join(self);
          if (fault === 'truncate') {
            body = body.subarray(0, Math.floor(body.length / 2));
            delete headers['transfer-encoding'];
            headers['content-length'] = String(body.length);
          }
          res.writeHead(answer.statusCode ?? 502, headers).end(body);
        });
      },
    );
    forward.on('error', () => req.socket.destroy());
    req.pipe(forward);
  };

  let server: Server = createServer(handle);
  const track = (s: Server) => s.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  track(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  self = `http://127.0.0.1:${port}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });

  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    add: (rule) => rules.push({ ...rule }),
    clear: () => rules.splice(0),
    down: stop,
    async up() {
      server = createServer(handle);
      track(server);
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
    close: stop,
  };
}
