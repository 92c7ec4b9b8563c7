import { chmodSync, mkdirSync } from 'node:fs';

/** Owner-only permissions for what the engine writes: the ledger and logs hold whole ticket payloads. */
export const PRIVATE_DIR = 0o700;
export const PRIVATE_FILE = 0o600;

/**
 * Creates a directory (and its missing parents) readable by its owner only, and tightens one that
 * already exists: state directories made by earlier versions were world-readable.
 */
export function privateDir(path: string): string {
  mkdirSync(path, { recursive: true, mode: PRIVATE_DIR });
  try {
    chmodSync(path, PRIVATE_DIR);
  } catch {
    // Not ours to change (a shared mount, another owner): the files inside are still created owner-only.
  }
  return path;
}
