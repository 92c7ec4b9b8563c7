import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { brotliCompressSync, brotliDecompressSync, deflateSync, gzipSync, gunzipSync, inflateSync } from 'node:zlib';
import { Session } from 'chdb';

/**
 * A stand-in for a ClickHouse server's HTTP interface, backed by the ClickHouse engine itself (chdb).
 * No ClickHouse server can be installed where the tests run, so this serves the part of the HTTP
 * interface `@clickhouse/client` speaks: `/ping`, queries in the URL or the body, inserts with the
 * query in the URL and the data in the body, `database`, settings and `param_*` in the URL, basic
 * and `X-ClickHouse-User`/`X-ClickHouse-Key` authentication for one user, gzip/deflate/br, and
 * errors in the server's text format with `X-ClickHouse-Exception-Code`. The SQL runs on the same
 * engine as a server's, so what passes here passes there; users point the ledger at a real server.
 *
 * Each request gets its own engine connection on the shared data directory, so settings, the
 * current database and query parameters last for that request only, as on a server.
 * Not served: sessions (`session_id`), multipart bodies, ClickHouse's native compression
 * (`compress`/`decompress`), progress headers. Each is refused with an error, never ignored.
 */

export interface ClickHouseHttpOptions {
  /** Data directory of the engine. */
  dataDir: string;
  /** The one user. Default `default`. */
  user?: string;
  /** That user's password. Default empty, as a fresh server's `default` user. */
  password?: string;
}

interface ErrorCode {
  code: number;
  name: string;
}

const AUTHENTICATION_FAILED: ErrorCode = { code: 516, name: 'AUTHENTICATION_FAILED' };
const NOT_IMPLEMENTED: ErrorCode = { code: 48, name: 'NOT_IMPLEMENTED' };
const BAD_ARGUMENTS: ErrorCode = { code: 36, name: 'BAD_ARGUMENTS' };
const UNKNOWN_FORMAT: ErrorCode = { code: 73, name: 'UNKNOWN_FORMAT' };

/** HTTP status per exception name, as the server picks it (everything else is 500). */
const STATUS_BY_NAME: Record<string, number> = {
  REQUIRED_PASSWORD: 401,
  ...Object.fromEntries(['UNKNOWN_USER', 'WRONG_PASSWORD', 'AUTHENTICATION_FAILED', 'SET_NON_GRANTED_ROLE', 'ACCESS_DENIED'].map((n) => [n, 403])),
  ...Object.fromEntries(
    [
      'BAD_ARGUMENTS', 'CANNOT_COMPILE_REGEXP', 'CANNOT_PARSE_TEXT', 'CANNOT_PARSE_ESCAPE_SEQUENCE', 'CANNOT_PARSE_QUOTED_STRING',
      'CANNOT_PARSE_DATE', 'CANNOT_PARSE_DATETIME', 'CANNOT_PARSE_NUMBER', 'CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING', 'CANNOT_PARSE_IPV4',
      'CANNOT_PARSE_IPV6', 'CANNOT_PARSE_INPUT_ASSERTION_FAILED', 'CANNOT_PARSE_UUID', 'DUPLICATE_COLUMN', 'ILLEGAL_COLUMN',
      'UNKNOWN_ELEMENT_IN_AST', 'UNKNOWN_TYPE_OF_AST_NODE', 'THERE_IS_NO_COLUMN', 'TOO_DEEP_AST', 'TOO_BIG_AST', 'UNEXPECTED_AST_STRUCTURE',
      'SYNTAX_ERROR', 'INCORRECT_DATA', 'TYPE_MISMATCH', 'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE',
    ].map((n) => [n, 400]),
  ),
  ...Object.fromEntries(
    [
      'UNKNOWN_TABLE', 'UNKNOWN_FUNCTION', 'UNKNOWN_IDENTIFIER', 'UNKNOWN_TYPE', 'UNKNOWN_STORAGE', 'UNKNOWN_DATABASE', 'UNKNOWN_SETTING',
      'UNKNOWN_DIRECTION_OF_SORTING', 'UNKNOWN_AGGREGATE_FUNCTION', 'UNKNOWN_FORMAT', 'UNKNOWN_DATABASE_ENGINE', 'UNKNOWN_TYPE_OF_QUERY',
      'UNKNOWN_ROLE',
    ].map((n) => [n, 404]),
  ),
  QUERY_IS_TOO_LARGE: 413,
  NOT_IMPLEMENTED: 501,
  TIMEOUT_EXCEEDED: 408,
};

/** URL parameters that are the HTTP interface's own, not settings. */
const HTTP_PARAMS = new Set(['query', 'database', 'default_format', 'query_id', 'user', 'password', 'quota_key', 'role', 'session_id', 'session_timeout', 'session_check', 'compress', 'decompress', 'buffer_size', 'wait_end_of_query', 'stacktrace']);

/**
 * Settings that only shape the HTTP response. Compression is applied here; the result is always
 * buffered whole (as with `wait_end_of_query=1`), so progress headers never come.
 */
const HTTP_SETTINGS = new Set(['enable_http_compression', 'http_zlib_compression_level', 'send_progress_in_http_headers', 'http_headers_progress_interval_ms', 'http_response_buffer_size', 'http_wait_end_of_query', 'add_http_cors_header', 'http_native_compression_disable_checksumming_on_decompress']);

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

class HttpInterfaceError extends Error {
  constructor(
    readonly error: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

interface Credentials {
  user: string;
  password: string;
}

/** Who the request says it is: basic auth, the X-ClickHouse headers, or `user`/`password` in the URL. */
function credentialsOf(req: IncomingMessage, params: URLSearchParams): Credentials | 'unsupported' {
  const authorization = req.headers.authorization;
  if (authorization) {
    const basic = /^Basic\s+(.+)$/i.exec(authorization);
    if (!basic) return 'unsupported';
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon < 0 ? { user: decoded, password: '' } : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  const headerUser = req.headers['x-clickhouse-user'];
  if (typeof headerUser === 'string') return { user: headerUser, password: String(req.headers['x-clickhouse-key'] ?? '') };
  return { user: params.get('user') ?? 'default', password: params.get('password') ?? '' };
}

function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** A SQL string literal holding `text` byte for byte. */
function sqlString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** A setting's value as the engine reads it from a URL: numbers as numbers, the rest as strings. */
function settingValue(text: string): string {
  return /^-?\d+(\.\d+)?$/.test(text) ? text : sqlString(text);
}

function decodeBody(body: Buffer, encoding: string | undefined): Buffer {
  switch ((encoding ?? '').trim().toLowerCase()) {
    case '':
    case 'identity':
      return body;
    case 'gzip':
    case 'x-gzip':
      return gunzipSync(body);
    case 'deflate':
      return inflateSync(body);
    case 'br':
      return brotliDecompressSync(body);
    default:
      throw new HttpInterfaceError(NOT_IMPLEMENTED, `Unknown HTTP content encoding '${encoding}': this stand-in reads gzip, deflate and br`);
  }
}

/** The response codec: only when the request enables compression and accepts one we write. */
function responseEncoding(req: IncomingMessage, params: URLSearchParams): 'gzip' | 'deflate' | 'br' | null {
  if (params.get('enable_http_compression') !== '1') return null;
  const accepted = String(req.headers['accept-encoding'] ?? '')
    .split(',')
    .map((e) => e.split(';')[0].trim().toLowerCase());
  for (const codec of ['gzip', 'deflate', 'br'] as const) if (accepted.includes(codec)) return codec;
  return null;
}

function encodeBody(body: Buffer, codec: 'gzip' | 'deflate' | 'br' | null): Buffer {
  if (codec === 'gzip') return gzipSync(body);
  if (codec === 'deflate') return deflateSync(body);
  if (codec === 'br') return brotliCompressSync(body);
  return body;
}

const CONTENT_TYPES: Record<string, string> = {
  JSON: 'application/json; charset=UTF-8',
  JSONCompact: 'application/json; charset=UTF-8',
  JSONStrings: 'application/json; charset=UTF-8',
  JSONObjectEachRow: 'application/json; charset=UTF-8',
  JSONEachRow: 'application/x-ndjson; charset=UTF-8',
  JSONStringsEachRow: 'application/x-ndjson; charset=UTF-8',
  JSONCompactEachRow: 'application/x-ndjson; charset=UTF-8',
  JSONCompactEachRowWithNames: 'application/x-ndjson; charset=UTF-8',
  JSONCompactEachRowWithNamesAndTypes: 'application/x-ndjson; charset=UTF-8',
  TabSeparated: 'text/tab-separated-values; charset=UTF-8',
  TSV: 'text/tab-separated-values; charset=UTF-8',
  CSV: 'text/csv; charset=UTF-8; header=absent',
  CSVWithNames: 'text/csv; charset=UTF-8; header=present',
};

/** The output format a statement asks for with a trailing FORMAT clause; inserts name an input format. */
function outputFormatOf(sql: string, fallback: string): string {
  if (/^\s*INSERT\b/i.test(sql)) return fallback;
  return /\bFORMAT\s+([A-Za-z][A-Za-z0-9]*)\s*;?\s*$/i.exec(sql)?.[1] ?? fallback;
}

/** Parses the engine's `Code: N. DB::Exception: ... (NAME)` text; anything else is a plain 500. */
function engineError(err: unknown): { code: number; name: string; message: string } {
  const text = err instanceof Error ? err.message : String(err);
  const match = /Code: (\d+)\. DB::Exception: ([\s\S]*?)\s*$/.exec(text);
  if (!match) return { code: 1001, name: 'STD_EXCEPTION', message: text };
  const name = /\(([A-Z][A-Z0-9_]+)\)(?:\s*\(version [^)]*\))?\.?$/.exec(match[2])?.[1] ?? 'UNKNOWN_EXCEPTION';
  return { code: Number(match[1]), name, message: match[2] };
}

export interface ClickHouseHttpServer {
  server: Server;
  /** The engine's version, as the server reports it. */
  version: string;
  close(): Promise<void>;
}

/** Opens the engine on `dataDir` and returns an HTTP server (not yet listening) in front of it. */
export async function createClickHouseHttpServer(options: ClickHouseHttpOptions): Promise<ClickHouseHttpServer> {
  const user = options.user ?? 'default';
  const password = options.password ?? '';
  // Held open for the server's lifetime: it binds the engine to the data directory.
  const engine = new Session(options.dataDir);
  const version = (await engine.queryAsync('SELECT version()', { format: 'TabSeparatedRaw' })).text().trim();
  const timezone = (await engine.queryAsync('SELECT timezone()', { format: 'TabSeparatedRaw' })).text().trim();

  const exceptionText = (code: number, message: string) => `Code: ${code}. DB::Exception: ${message}${/\(version [^)]*\)\.?$/.test(message) ? '' : ` (version ${version})`}\n`;

  function sendError(res: ServerResponse, queryId: string, code: number, name: string, message: string): void {
    const body = exceptionText(code, message);
    res.writeHead(STATUS_BY_NAME[name] ?? 500, {
      'Content-Type': 'text/plain; charset=UTF-8',
      'X-ClickHouse-Exception-Code': String(code),
      'X-ClickHouse-Query-Id': queryId,
      'X-ClickHouse-Server-Display-Name': 'clickhouse-http-stand-in',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
  }

  /** Runs one statement on a connection of its own, with the request's database, parameters and settings. */
  async function execute(sql: string, params: URLSearchParams, readonlyDefault: string | null): Promise<{ body: Buffer; format: string; summary: Record<string, string> }> {
    if (params.get('session_id')) throw new HttpInterfaceError(NOT_IMPLEMENTED, 'sessions (session_id) are not served by this stand-in of the ClickHouse HTTP interface');
    if (params.get('compress') === '1' || params.get('decompress') === '1') {
      throw new HttpInterfaceError(NOT_IMPLEMENTED, "ClickHouse's native compression (compress/decompress) is not served by this stand-in; use HTTP compression");
    }
    const format = params.get('default_format') ?? 'TabSeparated';
    if (!NAME.test(format)) throw new HttpInterfaceError(UNKNOWN_FORMAT, `Unknown format ${format}`);
    const setup: string[] = [];
    const database = params.get('database');
    if (database) setup.push(`USE ${NAME.test(database) ? database : `\`${database.replace(/[`\\]/g, '\\$&')}\``}`);
    let readonly = readonlyDefault;
    for (const [key, value] of params) {
      if (key.startsWith('param_')) {
        if (!NAME.test(key)) throw new HttpInterfaceError(BAD_ARGUMENTS, `Invalid query parameter name ${key}`);
        setup.push(`SET ${key} = ${sqlString(value)}`);
      } else if (key === 'readonly') {
        readonly = value;
      } else if (!HTTP_PARAMS.has(key) && !HTTP_SETTINGS.has(key)) {
        if (!NAME.test(key)) throw new HttpInterfaceError(BAD_ARGUMENTS, `Invalid setting name ${key}`);
        setup.push(`SET ${key} = ${settingValue(value)}`);
      }
    }
    // Last, as a server checks every change against the user's profile before applying any.
    if (readonly !== null) setup.push(`SET readonly = ${settingValue(readonly)}`);
    const session = new Session(options.dataDir);
    try {
      for (const statement of setup) await session.queryAsync(statement, { format: 'TabSeparated' });
      const result = await session.queryAsync(sql, { format });
      const rows = String(result.rowsRead ?? 0);
      const bytes = String(result.bytesRead ?? 0);
      const elapsedNs = String(Math.round((result.elapsed ?? 0) * 1e9));
      const isInsert = /^\s*INSERT\b/i.test(sql);
      return {
        body: Buffer.from(result.bytes()),
        format: outputFormatOf(sql, format),
        summary: {
          read_rows: rows,
          read_bytes: bytes,
          written_rows: isInsert ? rows : '0',
          written_bytes: isInsert ? bytes : '0',
          total_rows_to_read: '0',
          result_rows: isInsert ? '0' : rows,
          result_bytes: isInsert ? '0' : bytes,
          elapsed_ns: elapsedNs,
        },
      };
    } finally {
      session.close();
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const params = url.searchParams;
    const queryId = params.get('query_id') || randomUUID();
    const method = req.method ?? 'GET';
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);

    if (url.pathname === '/ping' || (url.pathname === '/' && (method === 'GET' || method === 'HEAD') && !params.has('query'))) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=UTF-8', 'Content-Length': 4 });
      res.end(method === 'HEAD' ? undefined : 'Ok.\n');
      return;
    }
    if (url.pathname !== '/') {
      const body = `There is no handle ${url.pathname}\n\nUse / or /ping for health checks.\n`;
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=UTF-8', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (method !== 'GET' && method !== 'POST') {
      sendError(res, queryId, BAD_ARGUMENTS.code, BAD_ARGUMENTS.name, `HTTP method ${method} is not allowed: use GET or POST`);
      return;
    }

    const credentials = credentialsOf(req, params);
    if (credentials === 'unsupported' || credentials.user !== user || !sameSecret(credentials.password, password)) {
      const who = credentials === 'unsupported' ? 'the Authorization header' : credentials.user;
      sendError(
        res,
        queryId,
        AUTHENTICATION_FAILED.code,
        AUTHENTICATION_FAILED.name,
        `${who}: Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)`,
      );
      return;
    }

    try {
      if (/^multipart\//i.test(String(req.headers['content-type'] ?? ''))) {
        throw new HttpInterfaceError(NOT_IMPLEMENTED, 'multipart request bodies are not served by this stand-in of the ClickHouse HTTP interface');
      }
      const body = decodeBody(raw, req.headers['content-encoding']).toString('utf8');
      const inUrl = params.get('query') ?? '';
      // As on a server: the URL holds the statement's start (an INSERT's header), the body the rest.
      const sql = inUrl && body ? `${inUrl}\n${body}` : inUrl || body;
      if (!sql.trim()) throw new HttpInterfaceError({ code: 62, name: 'SYNTAX_ERROR' }, 'Empty query. (SYNTAX_ERROR)');
      if (/^\s*INSERT\b[\s\S]*\bFORMAT\s+\w+\s*$/i.test(sql) && inUrl && !body.trim()) {
        // An insert of no rows: a server accepts it, the engine calls it NO_DATA_TO_INSERT.
        res.writeHead(200, { 'X-ClickHouse-Query-Id': queryId, 'X-ClickHouse-Summary': JSON.stringify({ written_rows: '0' }), 'Content-Length': 0 });
        res.end();
        return;
      }
      const result = await execute(sql, params, method === 'GET' ? '2' : null);
      const codec = responseEncoding(req, params);
      const payload = encodeBody(result.body, codec);
      res.writeHead(200, {
        'Content-Type': CONTENT_TYPES[result.format] ?? 'text/plain; charset=UTF-8',
        'X-ClickHouse-Query-Id': queryId,
        'X-ClickHouse-Format': result.format,
        'X-ClickHouse-Timezone': timezone,
        'X-ClickHouse-Server-Display-Name': 'clickhouse-http-stand-in',
        'X-ClickHouse-Summary': JSON.stringify(result.summary),
        ...(codec ? { 'Content-Encoding': codec } : {}),
        'Content-Length': payload.length,
      });
      res.end(payload);
    } catch (err) {
      if (err instanceof HttpInterfaceError) {
        const message = /\([A-Z_]+\)$/.test(err.message) ? err.message : `${err.message}. (${err.error.name})`;
        sendError(res, queryId, err.error.code, err.error.name, message);
        return;
      }
      const e = engineError(err);
      sendError(res, queryId, e.code, e.name, e.message);
    }
  }

  // A server takes URLs up to 1 MiB (http_max_uri_size); query parameters of long IN lists live there.
  const server = createServer({ maxHeaderSize: 1024 * 1024 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, '', 1001, 'STD_EXCEPTION', err instanceof Error ? err.message : String(err));
      else res.destroy();
    });
  });
  return {
    server,
    version,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          engine.close();
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}
