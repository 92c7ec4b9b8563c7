/**
 * Freshdesk's filter query language (API v2 reference, "Filter Tickets"): a query in double quotes of
 * at most 512 characters; conditions `field:value`, `field:>value` (greater than or equal) and
 * `field:<value` (less than or equal); values in single quotes, numbers, booleans or `null`;
 * conditions joined by AND and OR, grouped with parentheses.
 */
export type FilterValue = string | number | boolean | null;

export type FilterNode =
  | { kind: 'and' | 'or'; nodes: FilterNode[] }
  | { kind: 'condition'; field: string; op: '=' | '>=' | '<='; value: FilterValue; quoted: boolean };

export class FilterQueryError extends Error {}

const MAX_QUERY_LENGTH = 512;

type Token = { type: '(' | ')' | 'and' | 'or' } | { type: 'condition'; field: string; op: '=' | '>=' | '<='; value: FilterValue; quoted: boolean };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (/\s/.test(ch)) {
      i += 1;
      continue;
    }
    if (ch === '(' || ch === ')') {
      tokens.push({ type: ch });
      i += 1;
      continue;
    }
    const word = /^(AND|OR)(?=[\s()]|$)/.exec(text.slice(i));
    if (word) {
      tokens.push({ type: word[1] === 'AND' ? 'and' : 'or' });
      i += word[1].length;
      continue;
    }
    const cond = /^(\w+):([<>]?)/.exec(text.slice(i));
    if (!cond) throw new FilterQueryError(`Unexpected text at position ${i + 1}`);
    i += cond[0].length;
    const op = cond[2] === '>' ? '>=' : cond[2] === '<' ? '<=' : '=';
    let value: FilterValue;
    let quoted = false;
    if (text[i] === "'") {
      let j = i + 1;
      let out = '';
      while (j < text.length && text[j] !== "'") {
        if (text[j] === '\\' && j + 1 < text.length) j += 1;
        out += text[j];
        j += 1;
      }
      if (j >= text.length) throw new FilterQueryError(`Unterminated value for ${cond[1]}`);
      value = out;
      quoted = true;
      i = j + 1;
    } else {
      const bare = /^[^\s()]+/.exec(text.slice(i));
      if (!bare) throw new FilterQueryError(`Missing value for ${cond[1]}`);
      i += bare[0].length;
      const raw = bare[0];
      if (raw === 'null') value = null;
      else if (raw === 'true' || raw === 'false') value = raw === 'true';
      else if (/^-?\d+(\.\d+)?$/.test(raw)) value = Number(raw);
      else throw new FilterQueryError(`Value ${raw} of ${cond[1]} should be quoted`);
    }
    tokens.push({ type: 'condition', field: cond[1], op, value, quoted });
  }
  return tokens;
}

/** Parses a query as sent (with its double quotes); throws FilterQueryError when it is malformed. */
export function parseFilterQuery(query: string | null): FilterNode {
  if (query === null || query.length === 0) throw new FilterQueryError('Mandatory attribute missing');
  const m = /^"([\s\S]*)"$/.exec(query.trim());
  if (!m) throw new FilterQueryError('Query should be enclosed in double quotes');
  if (m[1].length > MAX_QUERY_LENGTH) throw new FilterQueryError(`Query can have up to ${MAX_QUERY_LENGTH} characters`);
  const tokens = tokenize(m[1]);
  let pos = 0;
  const expr = (): FilterNode => {
    const nodes = [term()];
    while (tokens[pos]?.type === 'or') {
      pos += 1;
      nodes.push(term());
    }
    return nodes.length === 1 ? nodes[0] : { kind: 'or', nodes };
  };
  const term = (): FilterNode => {
    const nodes = [factor()];
    while (tokens[pos]?.type === 'and') {
      pos += 1;
      nodes.push(factor());
    }
    return nodes.length === 1 ? nodes[0] : { kind: 'and', nodes };
  };
  const factor = (): FilterNode => {
    const token = tokens[pos++];
    if (!token) throw new FilterQueryError('Query ends where a condition was expected');
    if (token.type === '(') {
      const inner = expr();
      if (tokens[pos++]?.type !== ')') throw new FilterQueryError('Unbalanced parentheses');
      return inner;
    }
    if (token.type !== 'condition') throw new FilterQueryError(`Unexpected ${token.type.toUpperCase()}`);
    return { kind: 'condition', field: token.field, op: token.op, value: token.value, quoted: token.quoted };
  };
  const tree = expr();
  if (pos !== tokens.length) throw new FilterQueryError('Unexpected text after the query');
  return tree;
}

/** Every condition of a query, in order. */
export function conditions(node: FilterNode): Extract<FilterNode, { kind: 'condition' }>[] {
  return node.kind === 'condition' ? [node] : node.nodes.flatMap(conditions);
}

/** Evaluates a parsed query; `test` decides one condition. */
export function matches(node: FilterNode, test: (c: Extract<FilterNode, { kind: 'condition' }>) => boolean): boolean {
  if (node.kind === 'condition') return test(node);
  return node.kind === 'and' ? node.nodes.every((n) => matches(n, test)) : node.nodes.some((n) => matches(n, test));
}
