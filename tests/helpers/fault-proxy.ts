import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * What the proxy does to a request that matches: `lose-answer` lets the platform carry it out, then
 * drops the connection before the answer reaches the client (a dropped link, a proxy crash);
 * `gateway-error` lets the platform carry it out, then answers 502 instead of its answer.
 */
export type FaultKind = 'lose-answer' | 'gateway-error';

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
  const hits: Record<FaultKind, number> = { 'lose-answer': 0, 'gateway-error': 0 };
  const sockets = new Set<Socket>();

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
          res.writeHead(answer.statusCode ?? 502, answer.headers).end(Buffer.concat(chunks));
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
