import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import avro from 'avsc';

/**
 * A schema registry speaking the Confluent REST API (the part Avro producers and consumers use):
 * subjects and versions, global schema IDs, lookups, compatibility levels and checks. Karapace is
 * not published on PyPI and Apicurio's dependency tree is incomplete on Maven Central, so tests and
 * local runs use this one; users point the same client at Confluent Schema Registry or Karapace.
 * Avro only. State is one JSON file, rewritten atomically on every change.
 */

export const COMPATIBILITY_LEVELS = ['NONE', 'BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE'] as const;
export type CompatibilityLevel = (typeof COMPATIBILITY_LEVELS)[number];

interface StoredSchema {
  id: number;
  schema: string;
}

interface SubjectVersion {
  version: number;
  id: number;
  deleted?: boolean;
}

interface RegistryState {
  nextId: number;
  schemas: StoredSchema[];
  subjects: Record<string, SubjectVersion[]>;
  config: { compatibilityLevel: CompatibilityLevel };
  subjectConfig: Record<string, CompatibilityLevel>;
}

class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }
}

function parseAvro(schema: string): avro.Type {
  try {
    return avro.Type.forSchema(JSON.parse(schema) as avro.Schema, { wrapUnions: false });
  } catch (err) {
    throw new RegistryError(422, 42201, `Invalid schema: ${(err as Error).message}`);
  }
}

/** Canonical text of a schema, so the same schema written differently gets the same ID. */
function canonical(schema: string): string {
  return JSON.stringify(parseAvro(schema).schema({ exportAttrs: true }));
}

function canRead(reader: avro.Type, writer: avro.Type): boolean {
  try {
    reader.createResolver(writer);
    return true;
  } catch {
    return false;
  }
}

export class SchemaRegistryStore {
  private state: RegistryState;

  constructor(private readonly file: string | null, defaultLevel: CompatibilityLevel = 'BACKWARD') {
    this.state =
      file && existsSync(file)
        ? (JSON.parse(readFileSync(file, 'utf8')) as RegistryState)
        : { nextId: 1, schemas: [], subjects: {}, config: { compatibilityLevel: defaultLevel }, subjectConfig: {} };
  }

  private save(): void {
    if (!this.file) return;
    writeFileSync(`${this.file}.tmp`, JSON.stringify(this.state));
    renameSync(`${this.file}.tmp`, this.file);
  }

  private versions(subject: string, includeDeleted = false): SubjectVersion[] {
    return (this.state.subjects[subject] ?? []).filter((v) => includeDeleted || !v.deleted);
  }

  private schemaById(id: number): StoredSchema {
    const found = this.state.schemas.find((s) => s.id === id);
    if (!found) throw new RegistryError(404, 40403, `Schema ${id} not found`);
    return found;
  }

  subjects(): string[] {
    return Object.keys(this.state.subjects).filter((s) => this.versions(s).length > 0);
  }

  level(subject?: string): CompatibilityLevel {
    return (subject && this.state.subjectConfig[subject]) || this.state.config.compatibilityLevel;
  }

  setLevel(level: string, subject?: string): CompatibilityLevel {
    if (!(COMPATIBILITY_LEVELS as readonly string[]).includes(level)) throw new RegistryError(422, 42203, `Invalid compatibility level ${level}`);
    if (subject) this.state.subjectConfig[subject] = level as CompatibilityLevel;
    else this.state.config.compatibilityLevel = level as CompatibilityLevel;
    this.save();
    return level as CompatibilityLevel;
  }

  version(subject: string, version: string): { subject: string; version: number; id: number; schema: string } {
    const versions = this.versions(subject);
    if (versions.length === 0) throw new RegistryError(404, 40401, `Subject '${subject}' not found.`);
    const found = version === 'latest' || version === '-1' ? versions[versions.length - 1] : versions.find((v) => v.version === Number(version));
    if (!found) throw new RegistryError(404, 40402, `Version ${version} not found.`);
    return { subject, version: found.version, id: found.id, schema: this.schemaById(found.id).schema };
  }

  listVersions(subject: string): number[] {
    const versions = this.versions(subject);
    if (versions.length === 0) throw new RegistryError(404, 40401, `Subject '${subject}' not found.`);
    return versions.map((v) => v.version);
  }

  schema(id: number): string {
    return this.schemaById(id).schema;
  }

  /** The existing version of `schema` under `subject`, if any. */
  lookup(subject: string, schema: string): { subject: string; version: number; id: number; schema: string } | null {
    const text = canonical(schema);
    for (const v of this.versions(subject)) {
      const stored = this.schemaById(v.id);
      if (stored.schema === text) return { subject, version: v.version, id: v.id, schema: stored.schema };
    }
    return null;
  }

  /** Whether `schema` may follow the subject's versions under its compatibility level. */
  compatible(subject: string, schema: string, against?: string): boolean {
    const level = this.level(subject);
    if (level === 'NONE') return true;
    const candidate = parseAvro(schema);
    let previous = this.versions(subject);
    if (against !== undefined) previous = [this.versions(subject).find((v) => String(v.version) === against || against === 'latest')!].filter(Boolean);
    else if (!level.endsWith('_TRANSITIVE')) previous = previous.slice(-1);
    return previous.every((v) => {
      const old = parseAvro(this.schemaById(v.id).schema);
      const backward = canRead(candidate, old);
      const forward = canRead(old, candidate);
      if (level.startsWith('BACKWARD')) return backward;
      if (level.startsWith('FORWARD')) return forward;
      return backward && forward;
    });
  }

  register(subject: string, schema: string, schemaType = 'AVRO'): { id: number; subject: string; version: number; schema: string } {
    if (schemaType !== 'AVRO') throw new RegistryError(422, 42201, `Schema type ${schemaType} is not supported here; only AVRO`);
    const existing = this.lookup(subject, schema);
    if (existing) return existing;
    if (!this.compatible(subject, schema)) {
      throw new RegistryError(409, 409, `Schema being registered is incompatible with an earlier schema for subject "${subject}" (compatibility ${this.level(subject)})`);
    }
    const text = canonical(schema);
    let stored = this.state.schemas.find((s) => s.schema === text);
    if (!stored) {
      stored = { id: this.state.nextId++, schema: text };
      this.state.schemas.push(stored);
    }
    const all = this.versions(subject, true);
    const version = (all.length ? all[all.length - 1].version : 0) + 1;
    this.state.subjects[subject] = [...all, { version, id: stored.id }];
    this.save();
    return { id: stored.id, subject, version, schema: text };
  }

  deleteSubject(subject: string): number[] {
    const versions = this.versions(subject);
    if (versions.length === 0) throw new RegistryError(404, 40401, `Subject '${subject}' not found.`);
    for (const v of versions) v.deleted = true;
    this.save();
    return versions.map((v) => v.version);
  }
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new RegistryError(400, 400, 'Request body is not JSON');
  }
}

function send(res: ServerResponse, status: number, payload: unknown): void {
  const text = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/vnd.schemaregistry.v1+json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Routes the Confluent REST API onto a store. */
export function createRegistryServer(store: SchemaRegistryStore): Server {
  return createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://registry');
      const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      const method = req.method ?? 'GET';
      try {
        if (parts.length === 0) return send(res, 200, {});
        if (parts[0] === 'subjects') {
          if (parts.length === 1 && method === 'GET') return send(res, 200, store.subjects());
          const subject = parts[1];
          if (parts.length === 2 && method === 'POST') {
            const b = await body(req);
            const found = store.lookup(subject, String(b.schema ?? ''));
            if (!found) {
              if (store.subjects().includes(subject)) throw new RegistryError(404, 40403, 'Schema not found');
              throw new RegistryError(404, 40401, `Subject '${subject}' not found.`);
            }
            return send(res, 200, found);
          }
          if (parts.length === 2 && method === 'DELETE') return send(res, 200, store.deleteSubject(subject));
          if (parts[2] === 'versions') {
            if (parts.length === 3 && method === 'GET') return send(res, 200, store.listVersions(subject));
            if (parts.length === 3 && method === 'POST') {
              const b = await body(req);
              return send(res, 200, store.register(subject, String(b.schema ?? ''), b.schemaType ? String(b.schemaType) : 'AVRO'));
            }
            if (parts.length === 4 && method === 'GET') return send(res, 200, store.version(subject, parts[3]));
            if (parts.length === 5 && parts[4] === 'schema' && method === 'GET') return send(res, 200, JSON.parse(store.version(subject, parts[3]).schema));
          }
        }
        if (parts[0] === 'schemas' && parts[1] === 'ids' && parts.length === 3 && method === 'GET') {
          return send(res, 200, { schema: store.schema(Number(parts[2])) });
        }
        if (parts[0] === 'config') {
          const subject = parts[1];
          if (method === 'GET') return send(res, 200, { compatibilityLevel: store.level(subject) });
          if (method === 'PUT') {
            const b = await body(req);
            return send(res, 200, { compatibility: store.setLevel(String(b.compatibility ?? b.compatibilityLevel ?? ''), subject) });
          }
        }
        if (parts[0] === 'compatibility' && parts[1] === 'subjects' && parts[3] === 'versions' && method === 'POST') {
          const b = await body(req);
          return send(res, 200, { is_compatible: store.compatible(parts[2], String(b.schema ?? ''), parts[4]) });
        }
        throw new RegistryError(404, 404, `${method} ${url.pathname} is not part of this registry's API`);
      } catch (err) {
        if (err instanceof RegistryError) return send(res, err.status, { error_code: err.errorCode, message: err.message });
        return send(res, 500, { error_code: 50001, message: (err as Error).message });
      }
    })();
  });
}
