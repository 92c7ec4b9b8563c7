import sanitizeHtml from 'sanitize-html';

/**
 * What a helpdesk target renders of a body: text and layout (paragraphs, headings, lists, links,
 * tables, code blocks, images from http(s) or from the record's own uploaded attachments, written
 * `inline:<attachment id>` in the canonical model). Scripts, event handlers, frames, forms and links
 * to other schemes are removed; inline styles keep only presentational properties. One policy for
 * every target, so what is planned, what is written and what verification expects agree.
 */
const ALLOWED_TAGS = [...sanitizeHtml.defaults.allowedTags, 'img', 'del', 'ins', 'strike', 'center', 'font'];
const TABLE_CELL = ['colspan', 'rowspan', 'align', 'valign', 'width'];
const ALLOWED_ATTRIBUTES: Record<string, string[]> = {
  '*': ['dir', 'lang', 'title', 'class', 'style'],
  a: ['href', 'name', 'target', 'rel'],
  img: ['src', 'alt', 'width', 'height'],
  table: ['border', 'cellpadding', 'cellspacing', 'width', 'align'],
  td: TABLE_CELL,
  th: TABLE_CELL,
  col: ['span', 'width'],
  colgroup: ['span', 'width'],
  ol: ['start', 'type', 'reversed'],
  li: ['value'],
  pre: ['class'],
  code: ['class'],
  font: ['color', 'face', 'size'],
};
const ALLOWED_SCHEMES = ['http', 'https', 'mailto', 'tel'];
// Inline styles carry how a message looked (colours, emphasis, alignment, table borders); only these
// properties pass, with plain values: no url() or expression() that could fetch or run anything.
const CSS_VALUE = [/^(?!.*(?:url|expression)\s*\()[-#\w.,%()\s'"!/]+$/i];
const ALLOWED_STYLES = Object.fromEntries(
  [
    'color', 'background-color', 'text-align', 'vertical-align', 'font-weight', 'font-style', 'font-size', 'font-family',
    'text-decoration', 'white-space', 'width', 'height', 'border', 'border-collapse', 'border-color', 'border-style', 'border-width',
    'padding', 'padding-left', 'padding-right', 'padding-top', 'padding-bottom', 'margin', 'margin-left', 'margin-right', 'margin-top', 'margin-bottom',
  ].map((property) => [property, CSS_VALUE]),
);
const IMG_SCHEMES = ['http', 'https', 'inline'];
const SCHEME_CHECKED = new Set(sanitizeHtml.defaults.allowedSchemesAppliedToAttributes);
// Markup that does something when the body is shown, rather than only looking some way.
const ACTIVE_TAGS = new Set(['script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'form', 'input', 'button', 'base', 'meta', 'link', 'svg', 'math']);
const ACTIVE_SCHEMES = new Set(['javascript', 'vbscript', 'data']);

const OPTIONS: sanitizeHtml.IOptions = {
  allowedTags: ALLOWED_TAGS,
  allowedAttributes: ALLOWED_ATTRIBUTES,
  allowedSchemes: ALLOWED_SCHEMES,
  allowedSchemesByTag: { img: IMG_SCHEMES },
  allowedStyles: { '*': ALLOWED_STYLES },
  allowProtocolRelative: false,
  nonTextTags: ['script', 'style', 'textarea', 'option', 'noscript', 'title', 'head'],
  // An image whose source was removed would show as a broken frame.
  exclusiveFilter: (frame) => frame.tag === 'img' && !frame.attribs.src,
};

function schemeOf(value: string): string | null {
  const m = /^\s*([a-z][a-z0-9+.-]*):/i.exec(value);
  return m ? m[1].toLowerCase() : null;
}

/** One thing the sanitizer removes: `<script>`, `onclick`, `src=cid:`, and whether it is active content. */
interface Removal {
  what: string;
  active: boolean;
}

function removals(html: string): Removal[] {
  const found: Removal[] = [];
  const onOpenTag = (tag: string, attribs: Record<string, string>) => {
    if (!ALLOWED_TAGS.includes(tag)) {
      found.push({ what: `<${tag}>`, active: ACTIVE_TAGS.has(tag) });
      return;
    }
    const allowed = [...ALLOWED_ATTRIBUTES['*'], ...(ALLOWED_ATTRIBUTES[tag] ?? [])];
    for (const [name, value] of Object.entries(attribs)) {
      if (!allowed.includes(name)) {
        found.push({ what: name.startsWith('on') ? `${name} handler` : `${name} attribute`, active: name.startsWith('on') });
        continue;
      }
      if (!SCHEME_CHECKED.has(name)) continue;
      const scheme = schemeOf(value);
      const schemes = tag === 'img' ? IMG_SCHEMES : ALLOWED_SCHEMES;
      if (scheme !== null && !schemes.includes(scheme)) found.push({ what: `${name}=${scheme}:`, active: ACTIVE_SCHEMES.has(scheme) });
    }
  };
  sanitizeHtml(html, { ...OPTIONS, onOpenTag });
  return found;
}

export interface SanitizedHtml {
  html: string;
  /** What was removed, each kind once with how often (`<script> ×2`), in order of first appearance. */
  removed: string[];
}

/** A body as the target should render it, with what was removed; a body with nothing to remove comes back unchanged. */
export function sanitizeBody(html: string): SanitizedHtml {
  if (!html.includes('<')) return { html, removed: [] };
  const found = removals(html);
  if (found.length === 0) return { html, removed: [] };
  const counts = new Map<string, number>();
  for (const r of found) counts.set(r.what, (counts.get(r.what) ?? 0) + 1);
  return {
    html: sanitizeHtml(html, OPTIONS),
    removed: [...counts].map(([what, n]) => (n > 1 ? `${what} ×${n}` : what)),
  };
}

/**
 * Active content (scripts, event handlers, frames, forms, script URLs) left in a body: what
 * verification flags in a target's copy, which sanitizing should have removed.
 */
export function activeContent(html: string | null): string[] {
  if (!html || !html.includes('<')) return [];
  return [...new Set(removals(html).filter((r) => r.active).map((r) => r.what))];
}
