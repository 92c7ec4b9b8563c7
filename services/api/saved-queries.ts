import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export interface SavedQuery {
  id: string;
  title: string;
  description: string;
  sql: string;
}

/**
 * The saved SQL queries over the ledger (`dashboards/queries/*.sql`). A file's leading `--` lines are
 * its title (first) and description (the rest); `{migration:String}` is the migration it runs for.
 */
export function loadSavedQueries(dir: string): SavedQuery[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
  } catch {
    return [];
  }
  return files.map((file) => {
    const text = readFileSync(join(dir, file), 'utf8');
    const header: string[] = [];
    for (const line of text.split('\n')) {
      if (!line.startsWith('--')) break;
      header.push(line.replace(/^--\s?/, '').trim());
    }
    return { id: basename(file, '.sql'), title: header[0] ?? basename(file, '.sql'), description: header.slice(1).join(' ').trim(), sql: text.trim().replace(/;\s*$/, '') };
  });
}
