import { describe, expect, it } from 'vitest';
import { formatTransforms, tallyTransforms, transformNote, transformOf, type TransformKind } from '../../../../services/mapper/transforms.ts';

describe('transformations', () => {
  it('counts notes by their kind, leaving notes of no kind out', () => {
    const counts: Partial<Record<TransformKind, number>> = {};
    tallyTransforms([transformNote('sanitized', 'comment 1: removed <script>'), transformNote('sanitized', 'comment 2: removed onclick handler'), 'assignee 7 is not a migrated agent; assigned to the default agent', 'status: not a kind'], counts);
    tallyTransforms([transformNote('split', 'comment 3: 27.0 MB of attachments split across 2 comments of at most 20 MB')], counts);
    expect(counts).toEqual({ sanitized: 2, split: 1 });
    expect(transformOf('status-mapped: status hold → pending')).toBe('status-mapped');
    expect(transformOf('loaded on the fly')).toBeNull();
  });

  it('prints one kind a line with its count, in a fixed order, and nothing when there is none', () => {
    expect(formatTransforms({ split: 1, sanitized: 12 }).split('\n')).toEqual([
      '      12  bodies sanitized (markup the target does not render removed)',
      '       1  comments whose attachments were split across follow-up comments',
    ]);
    expect(formatTransforms({})).toBe('');
    expect(formatTransforms(undefined)).toBe('');
  });
});
