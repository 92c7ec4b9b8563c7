/**
 * The kinds of change the mapper makes to a record on its way to the target. Each note it writes
 * starts with its kind (`sanitized: comment 12: removed <script>`), so a run can count them by kind.
 */
export const TRANSFORM_KINDS = [
  'sanitized',
  'split',
  'inline-relinked',
  'inline-as-attachment',
  'status-mapped',
  'status-by-inactivity',
  'priority-mapped',
  'type-mapped',
  'field-default',
  'attachments-skipped',
  'attachments-linked',
  'attachments-not-carried',
] as const;
export type TransformKind = (typeof TRANSFORM_KINDS)[number];

/** What each kind means, as the migration report prints it. */
export const TRANSFORM_LABELS: Record<TransformKind, string> = {
  sanitized: 'bodies sanitized (markup the target does not render removed)',
  split: 'comments whose attachments were split across follow-up comments',
  'inline-relinked': 'comments whose inline images were re-linked to their uploaded copies',
  'inline-as-attachment': 'comments whose inline images became attachments, [image: name] in the body',
  'status-mapped': 'tickets whose status was mapped to another',
  'status-by-inactivity': 'tickets closed because the source counts their custom status as done',
  'priority-mapped': 'tickets whose priority was mapped to another',
  'type-mapped': 'tickets whose type was mapped to another',
  'field-default': 'custom field values filled from mapping.defaults',
  'attachments-skipped': 'tickets whose attachments were skipped by option',
  'attachments-linked': "comments whose attachments over the target's per-ticket or per-file limit were kept at the attachment location, linked from the comment",
  'attachments-not-carried': "comments whose attachments over the target's per-ticket or per-file limit were not carried (named in the comment; set options.attachmentLinks to carry them)",
};

export function transformNote(kind: TransformKind, detail: string): string {
  return `${kind}: ${detail}`;
}

export function transformOf(note: string): TransformKind | null {
  const end = note.indexOf(':');
  if (end < 0) return null;
  const kind = note.slice(0, end);
  return (TRANSFORM_KINDS as readonly string[]).includes(kind) ? (kind as TransformKind) : null;
}

/** The transformation kinds among a record's notes, one per note that names one. */
export function transformKinds(notes: readonly string[]): TransformKind[] {
  return notes.flatMap((note) => transformOf(note) ?? []);
}

/** Adds a record's notes to per-kind counts. */
export function tallyTransforms(notes: readonly string[], into: Partial<Record<TransformKind, number>>): void {
  for (const note of notes) {
    const kind = transformOf(note);
    if (kind) into[kind] = (into[kind] ?? 0) + 1;
  }
}

/** Per-kind counts, one kind a line with what it means; '' when there are none. */
export function formatTransforms(transforms: unknown): string {
  if (!transforms || typeof transforms !== 'object') return '';
  return TRANSFORM_KINDS.flatMap((kind) => {
    const n = (transforms as Record<string, number>)[kind];
    return n ? [`  ${String(n).padStart(6)}  ${TRANSFORM_LABELS[kind]}`] : [];
  }).join('\n');
}
