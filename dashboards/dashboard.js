// The cutover dashboard: reads the API with a bearer token, redraws on server-sent events.
const $ = (selector) => document.querySelector(selector);
const SVG = 'http://www.w3.org/2000/svg';
const state = { token: null, migration: null, data: null, throughput: [], teamZones: [], stream: null, refresh: null, ticker: null, retry: null, verification: null, acceptDrafts: new Map(), acceptErrors: new Map(), deciding: new Set() };

// --- time, in the viewer's zone and the team's ---
const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
const fmt = (iso, zone) =>
  iso ? new Intl.DateTimeFormat(undefined, { timeZone: zone, dateStyle: 'short', timeStyle: 'medium' }).format(new Date(iso)) : '—';
const shortZone = (zone) => zone.split('/').pop().replace(/_/g, ' ');
function timeCell(iso) {
  const td = document.createElement('td');
  td.textContent = fmt(iso, viewerZone);
  if (iso && state.teamZones.length) td.title = state.teamZones.map((z) => `${shortZone(z)}: ${fmt(iso, z)}`).join('\n');
  return td;
}
function drawClocks() {
  const now = new Date().toISOString();
  const zones = [viewerZone, ...state.teamZones.filter((z) => z !== viewerZone)];
  const box = $('#clocks');
  box.replaceChildren(
    ...zones.map((zone, i) => {
      const span = document.createElement('span');
      span.dataset.zone = zone;
      const b = document.createElement('b');
      b.textContent = i === 0 ? `you (${shortZone(zone)})` : shortZone(zone);
      span.append(b, ' ', new Intl.DateTimeFormat(undefined, { timeZone: zone, weekday: 'short', hour: '2-digit', minute: '2-digit' }).format(new Date(now)));
      return span;
    }),
  );
}

// --- API ---
async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { ...(init.headers || {}), authorization: `Bearer ${state.token}` } });
  if (res.status === 401) {
    sessionStorage.removeItem('hdm-token');
    showLogin('the token was refused');
    throw new Error('unauthorized');
  }
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    const error = new Error(body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${res.status}`);
    error.status = res.status;
    error.code = body.error?.code ?? null;
    error.detail = body.error?.message ?? '';
    throw error;
  }
  return res;
}
const getJson = async (path, init) => (await api(path, init)).json();
const post = (payload) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });

// --- rendering ---
function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) {
    if (c instanceof HTMLElement) tr.append(c);
    else {
      const td = document.createElement('td');
      td.textContent = c === null || c === undefined ? '—' : String(c);
      tr.append(td);
    }
  }
  return tr;
}
const num = (value, bad = false, cls = '') => {
  const td = document.createElement('td');
  td.textContent = value === null || value === undefined ? '—' : Number(value).toLocaleString();
  if (cls) td.className = cls;
  if (bad && value > 0) td.classList.add('bad');
  return td;
};

const ago = (seconds) => {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h ago`;
};

function renderVerificationAge() {
  const v = state.verification;
  const box = $('#verification-age');
  if (!v) {
    box.textContent = 'no verification yet';
    box.className = 'stale';
    return;
  }
  box.textContent = `verification ${v.verifyId} ran ${ago((Date.now() - Date.parse(v.checkedAt)) / 1000)} (${fmt(v.checkedAt, viewerZone)})${v.stale ? ': the target changed since, verify again' : ''}`;
  box.className = v.stale ? 'stale' : '';
  box.title = state.teamZones.map((z) => `${shortZone(z)}: ${fmt(v.checkedAt, z)}`).join('\n');
}

function renderReadiness(readiness) {
  const verdict = $('#verdict');
  const kind = readiness.verdict ?? (readiness.ready ? 'ready' : 'not-ready');
  verdict.textContent = kind === 'ready' ? 'ready to cut over' : kind === 'verify-again' ? 'verify again' : 'not ready';
  verdict.className = kind;
  state.verification = readiness.verification ?? null;
  renderVerificationAge();
  $('#checks').replaceChildren(
    ...readiness.checks.map((c) => {
      const li = document.createElement('li');
      li.className = c.ok ? 'ok' : c.blocking ? 'fail' : 'warn';
      li.dataset.check = c.check;
      li.textContent = c.at ? `${c.detail} at ${fmt(c.at, viewerZone)}` : c.detail;
      if (c.at && state.teamZones.length) li.title = state.teamZones.map((z) => `${shortZone(z)}: ${fmt(c.at, z)}`).join('\n');
      return li;
    }),
  );
}

function renderEntities(recon) {
  $('#entities tbody').replaceChildren(
    ...recon.entities.map((e) => {
      const tr = row([e.entity]);
      tr.dataset.entity = e.entity;
      tr.append(
        num(e.source, false, 'source'),
        num(e.loaded, false, 'loaded'),
        num(e.missing, true, 'missing'),
        num(e.mismatched, true, 'mismatched'),
        num(e.failed, true, 'failed'),
        num(e.accepted ?? 0, false, 'accepted'),
        num(e.filtered, false, 'filtered'),
        num(e.notAttempted, false, 'pending'),
      );
      return tr;
    }),
  );
  const v = recon.verification;
  $('#verified-at').textContent = v ? `missing and mismatched from verification ${v.verifyId}, ${fmt(v.checkedAt, viewerZone)}` : 'missing and mismatched appear after the first verification';
}

function renderLive(progress, job) {
  $('#job').textContent = job ? `${job.kind} · ${job.status} · started ${fmt(job.startedAt, viewerZone)}` : 'none yet';
  const entries = Object.entries(progress.run || {});
  $('#live tbody').replaceChildren(
    ...entries.map(([entity, c]) => {
      const tr = row([entity]);
      tr.dataset.entity = entity;
      tr.append(num(c.read, false, 'read'), num(c.mapped, false, 'mapped'), num(c.loaded, false, 'loaded'), num(c.failed, true, 'failed'), num(c.filtered, false, 'filtered'));
      return tr;
    }),
  );
  $('#canonical').textContent = `${Number(progress.canonicalLoaded || 0).toLocaleString()} canonical records loaded since the API started`;
  $('#canonical').dataset.value = String(progress.canonicalLoaded || 0);
}

function renderFailures(failures) {
  $('#failures tbody').replaceChildren(
    ...(failures.length
      ? failures.map((f) => {
          const tr = row([timeCell(f.lastAttemptAt), f.entity, f.sourceId, f.errorCode, f.errorMessage, f.attempts, f.accepted ? `accepted by ${f.accepted.by}: ${f.accepted.reason}` : 'no']);
          tr.dataset.record = `${f.entity}:${f.sourceId}`;
          tr.className = f.accepted ? 'accepted' : 'failing';
          return tr;
        })
      : [row(['no failures'])]),
  );
}

/** Marks the listed failures an operator accepted since the list was drawn (a summary event carries the acceptances). */
function markAccepted(acceptances) {
  const byRecord = new Map(acceptances.map((a) => [`${a.entity}:${a.sourceId}`, a]));
  for (const tr of document.querySelectorAll('#failures tbody tr[data-record]')) {
    const a = byRecord.get(tr.dataset.record);
    tr.className = a ? 'accepted' : 'failing';
    tr.lastElementChild.textContent = a ? `accepted by ${a.acceptedBy}: ${a.reason}` : 'no';
  }
}

const duration = (seconds) => {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
};

function renderHealth(health) {
  if (!health) return;
  state.health = health;
  $('#health tbody').replaceChildren(
    ...(health.sides.length
      ? health.sides.map((h) => {
          const tr = row([`${h.side} (${h.platform})`]);
          tr.dataset.side = h.side;
          const limit = num(h.limitPerMinute, false, 'limit');
          limit.title = h.limitFrom === 'config' ? 'the migration file\'s ceiling' : 'the platform\'s limit';
          tr.append(num(h.requestsPerMinute, false, 'requests'), limit, num(h.rateLimitedPerMinute, true, 'rate-limited'), num(h.serverErrorsPerMinute, true, 'server-errors'), num(h.retriesPerMinute, true, 'retries'), num(h.remaining));
          tr.title = `per minute over the last ${h.windowSeconds} s; since the API started: ${h.totals.requests} requests, ${h.totals.rateLimited} 429s, ${h.totals.serverErrors} 5xx, ${h.totals.retries} retries`;
          return tr;
        })
      : [row(['no connection opened yet'])]),
  );
  $('#waiting').textContent = health.waitingFor ? `now: ${health.waitingFor}` : '';
  const box = $('#stall');
  box.hidden = !health.stall;
  box.textContent = health.stall ? `Stalled for ${duration(health.stall.seconds)}: ${health.stall.reason}` : '';
  renderUpdated();
  updateTitle();
}

function renderProgress(p) {
  if (!p) return;
  const phase = p.phase === 'verify' ? 'closing verification' : p.phase;
  const workingSet = !p.workingSet ? '' : p.workingSet.state === 'complete' ? ' · working set complete: agents can start in the target' : ' · working set moving';
  $('#run-phase').textContent = p.kind ? `${p.kind} run · ${phase}${workingSet} · elapsed ${duration(p.elapsedSeconds)}${p.etaSeconds !== null && p.etaSeconds !== undefined ? ` · about ${duration(p.etaSeconds)} left` : ''}` : 'no run yet';
  $('#progress tbody').replaceChildren(
    ...p.entities.map((e) => {
      const tr = row([e.entity, e.state === 'waiting' ? 'waiting' : e.state]);
      tr.dataset.entity = e.entity;
      tr.className = e.state;
      const eta = row([e.etaSeconds === null ? '—' : `${duration(e.etaSeconds)}${e.etaFrom === 'budget' ? ' (budget)' : ''}`]).firstChild;
      const c = p.ticketConversation;
      // What the tickets' budget counts beside the tickets themselves, and where that comes from.
      if (e.entity === 'ticket' && e.etaFrom === 'budget') {
        eta.title = c
          ? `counts ${c.commentsPerTicket} comments and ${c.attachmentsPerTicket} attachments per ticket, from ${c.tickets} tickets ${c.from === 'run' ? 'this run read' : 'drawn when the run started'}`
          : 'counts the tickets alone: their comments are not known yet';
      }
      tr.append(num(e.done, false, 'done'), num(e.total, false, 'total'), num(e.percent), row([duration(e.elapsedSeconds)]).firstChild, num(e.perSecond), eta);
      return tr;
    }),
  );
}

/** The tab says the verdict and a stall, so a background tab still tells. */
function updateTitle() {
  const verdict = $('#verdict').textContent;
  const stall = state.health?.stall ? 'STALLED · ' : '';
  document.title = `${stall}${verdict && verdict !== '…' ? `${verdict} · ` : ''}${state.migration ?? ''} · Cutover dashboard`;
}

/**
 * The live pill: green only while records can move. A run that waits for a platform (a rate limit, 5xx
 * answers being retried) or has stalled turns it amber and says so, so "0 rec/s" never sits under green.
 */
function renderUpdated() {
  const badge = $('#connection');
  if (!state.connected || !state.lastEventAt) return;
  const h = state.health;
  const stalled = h?.running && h.stall;
  const waiting = h?.running && !stalled && h.waitingFor;
  const updated = `updated ${ago((Date.now() - state.lastEventAt) / 1000)}`;
  badge.className = stalled ? 'pill stalled' : waiting ? 'pill waiting' : 'pill on';
  badge.textContent = stalled ? `stalled · ${updated}` : waiting ? `waiting · ${updated}` : updated;
  badge.title = stalled ? h.stall.reason : waiting ? h.waitingFor : 'live updates';
}

/** Every run, newest first: loading runs with what they wrote, verifications with what they found, who started each. */
function renderRuns(runs) {
  $('#runs tbody').replaceChildren(
    ...[...runs].reverse().map((r) => {
      const c = r.counts || {};
      const verify = r.kind === 'verify';
      const status = verify && 'ok' in c ? `${r.status}: ${c.ok} ok, ${c.missing} missing, ${c.mismatched} mismatched, ${c.duplicates} duplicated` : r.status;
      const by = r.startedBy ? `${r.startedBy.label || `token ${r.startedBy.tokenId}`} (${r.startedBy.role})` : r.startedBy === null ? 'outside the API' : '—';
      const tr = row([r.runId, r.kind, status, timeCell(r.startedAt), duration(r.seconds ?? null)]);
      tr.children[4].className = 'duration';
      tr.append(
        num(verify ? null : c.created, false, 'created'),
        num(verify ? null : c.updated, false, 'updated'),
        num(verify ? null : c.unchanged, false, 'unchanged'),
        num(c.failed, true, 'failed'),
        row([by]).firstChild,
      );
      tr.lastChild.className = 'started-by';
      tr.dataset.run = r.runId;
      tr.dataset.kind = r.kind;
      return tr;
    }),
  );
}

// --- drill-down: missing, mismatched, failed and filtered records, grouped by reason ---
function linkCell(id, url) {
  const td = document.createElement('td');
  if (!id) td.textContent = '—';
  else if (url && /^https?:/.test(url)) {
    const a = document.createElement('a');
    a.href = url;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    a.textContent = id;
    td.append(a);
  } else td.textContent = id;
  return td;
}

const recordKey = (r) => `${r.entity}:${r.sourceId}`;

/**
 * A failed record's acceptance: who accepted it and why; for an operator, an inline form that asks the
 * reason and accepts it, or a button that withdraws the acceptance. A half-typed reason survives redraws.
 */
function acceptCell(r) {
  const key = recordKey(r);
  const td = document.createElement('td');
  td.className = 'accept';
  if (r.accepted) {
    const note = document.createElement('span');
    note.className = 'accepted-by';
    note.textContent = `accepted by ${r.accepted.by}: ${r.accepted.reason}`;
    td.append(note);
  } else if (!state.operator) td.textContent = 'no';
  if (!state.operator) return td;
  const button = (text, cls, onclick) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = cls;
    b.textContent = text;
    b.onclick = onclick;
    return b;
  };
  if (r.accepted) td.append(button('withdraw', 'withdraw', () => decide('withdraw', r)));
  else if (!state.acceptDrafts.has(key)) {
    td.append(
      button('Accept', 'accept-open', () => {
        state.acceptDrafts.set(key, '');
        redrawAccept(r);
        findAcceptCell(key)?.querySelector('input')?.focus();
      }),
    );
  } else {
    const form = document.createElement('form');
    const input = document.createElement('input');
    input.name = 'reason';
    input.maxLength = 1000;
    input.placeholder = 'why may it stay as it is?';
    input.setAttribute('aria-label', `reason for accepting ${key}`);
    input.value = state.acceptDrafts.get(key);
    input.oninput = () => state.acceptDrafts.set(key, input.value);
    const submit = document.createElement('button');
    submit.type = 'submit';
    submit.className = 'accept-confirm';
    submit.textContent = 'Accept';
    form.onsubmit = (e) => {
      e.preventDefault();
      decide('accept', r, input.value);
    };
    form.append(
      input,
      submit,
      button('cancel', 'accept-cancel', () => {
        state.acceptDrafts.delete(key);
        state.acceptErrors.delete(key);
        redrawAccept(r);
      }),
    );
    td.append(form);
  }
  const error = document.createElement('span');
  error.className = 'error';
  error.setAttribute('role', 'alert');
  error.textContent = state.acceptErrors.get(key) ?? '';
  td.append(error);
  return td;
}

function findAcceptCell(key) {
  for (const tr of document.querySelectorAll('#records tbody tr[data-record]')) if (tr.dataset.record === key) return tr.querySelector('td.accept');
  return null;
}
function redrawAccept(r) {
  findAcceptCell(recordKey(r))?.replaceWith(acceptCell(r));
}

/** Accepts a failed record with the operator's reason, or withdraws its acceptance; the API's refusal is shown in the row. */
async function decide(action, r, reason) {
  const key = recordKey(r);
  const name = state.migration;
  if (state.deciding.has(key)) return;
  state.deciding.add(key);
  for (const b of findAcceptCell(key)?.querySelectorAll('button') ?? []) b.disabled = true;
  try {
    const records = [{ entity: r.entity, sourceId: r.sourceId }];
    const body = await getJson(`/api/migrations/${encodeURIComponent(name)}/failures/${action}`, post(action === 'accept' ? { records, reason } : { records }));
    const a = body.accepted?.[0];
    r.accepted = a ? { by: a.acceptedBy, reason: a.reason, at: a.acceptedAt } : null;
    state.acceptDrafts.delete(key);
    state.acceptErrors.delete(key);
  } catch (err) {
    if (err.message === 'unauthorized') return;
    state.acceptErrors.set(key, err.message);
  } finally {
    state.deciding.delete(key);
  }
  if (state.migration !== name) return;
  redrawAccept(r);
  // The verdict, the entity counts and the latest failures move with the decision.
  loadDashboard().catch(() => {});
}

function renderRecords(status, body) {
  const failedList = status === 'failed';
  // A redraw keeps the reason being typed where it was.
  const typing = document.activeElement?.closest?.('#records td.accept') ? document.activeElement : null;
  const typingKey = typing?.closest('tr')?.dataset.record;
  const groups = new Map();
  for (const r of body.records) {
    const key = `${r.entity}\u0000${r.reason}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  const rows = [];
  for (const g of body.byReason) {
    const head = document.createElement('tr');
    head.className = 'group';
    head.dataset.reason = g.reason;
    const th = document.createElement('th');
    th.colSpan = failedList ? 7 : 6;
    th.textContent = `${g.reason} · ${g.entity} · ${g.records.toLocaleString()} record${g.records === 1 ? '' : 's'}`;
    head.append(th);
    rows.push(head);
    for (const r of groups.get(`${g.entity}\u0000${g.reason}`) ?? []) {
      const tr = row([r.entity]);
      tr.dataset.record = `${r.entity}:${r.sourceId}`;
      tr.dataset.reason = r.reason;
      tr.append(linkCell(r.sourceId, r.sourceUrl), linkCell(r.targetId, r.targetUrl), num(r.attempts, false, 'attempts'), timeCell(r.lastAttemptAt), row([r.detail || r.reason]).firstChild);
      tr.children[1].classList.add('source');
      tr.children[2].classList.add('target');
      if (failedList) tr.append(acceptCell(r));
      rows.push(tr);
    }
  }
  if (!rows.length) rows.push(row([`no ${status} records`]));
  $('#records tbody').replaceChildren(...rows);
  $('#records-accepted').hidden = !failedList;
  if (typing?.name === 'reason' && typingKey) {
    const input = findAcceptCell(typingKey)?.querySelector('input');
    if (input) {
      input.focus();
      input.setSelectionRange(typing.selectionStart, typing.selectionEnd);
    }
  }
  const n = body.records.length;
  $('#records-summary').textContent = `${n.toLocaleString()} ${status} record${n === 1 ? '' : 's'}${n >= 10000 ? ' (the first 10,000; the CSV has the same)' : ''}`;
  $('#retry-failed').hidden = !(state.operator && status === 'failed' && n > 0);
}

/** Reads the selected list again; one read at a time, the newest selection wins, and a read asked for meanwhile follows. */
async function loadRecords() {
  const name = state.migration;
  const status = state.recordStatus;
  if (!name) return;
  if (state.recordsBusy) {
    state.recordsAgain = true;
    return;
  }
  state.recordsBusy = true;
  state.recordsAgain = false;
  try {
    const body = await getJson(`/api/migrations/${encodeURIComponent(name)}/records/${status}`);
    if (state.migration === name && state.recordStatus === status) renderRecords(status, body);
  } catch (err) {
    if (state.migration === name) $('#records-summary').textContent = err.message;
  } finally {
    state.recordsBusy = false;
    if (state.recordsAgain) loadRecords();
  }
}

function setupRecords() {
  state.recordStatus ??= 'failed';
  for (const b of document.querySelectorAll('#record-status button')) {
    b.onclick = () => {
      state.recordStatus = b.dataset.status;
      for (const o of document.querySelectorAll('#record-status button')) o.setAttribute('aria-pressed', String(o === b));
      $('#records tbody').replaceChildren();
      loadRecords();
    };
    b.setAttribute('aria-pressed', String(b.dataset.status === state.recordStatus));
  }
}

/** A line chart as inline SVG: points {t: ms, v: number}, an optional dashed threshold. */
function lineChart(container, points, { threshold = null, unit = '', note = '' } = {}) {
  container.replaceChildren();
  if (points.length < 2) {
    const p = document.createElement('p');
    p.className = 'empty';
    p.textContent = points.length ? `${points[0].v} ${unit}${note ? ` · ${note}` : ''}` : 'no data yet';
    container.append(p);
    return;
  }
  const W = 600, H = 180, L = 48, B = 22, T = 8, R = 8;
  const t0 = points[0].t, t1 = points[points.length - 1].t;
  const vmax = Math.max(1, threshold ?? 0, ...points.map((p) => p.v)) * 1.1;
  const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - R);
  const y = (v) => H - B - (v / vmax) * (H - B - T);
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('role', 'img');
  const el = (name, attrs, text) => {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
  el('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: '#999' });
  el('line', { x1: L, y1: T, x2: L, y2: H - B, stroke: '#999' });
  for (const frac of [0, 0.5, 1]) {
    const v = (vmax / 1.1) * frac;
    el('text', { x: L - 4, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#666' }, v >= 100 ? Math.round(v).toLocaleString() : v.toFixed(1));
  }
  const tick = (t) => new Intl.DateTimeFormat(undefined, { timeZone: viewerZone, hour: '2-digit', minute: '2-digit', second: t1 - t0 < 3_600_000 ? '2-digit' : undefined }).format(new Date(t));
  el('text', { x: L, y: H - 6, 'font-size': 11, fill: '#666' }, tick(t0));
  el('text', { x: W - R, y: H - 6, 'text-anchor': 'end', 'font-size': 11, fill: '#666' }, tick(t1));
  if (threshold !== null) el('line', { x1: L, y1: y(threshold), x2: W - R, y2: y(threshold), stroke: '#b3261e', 'stroke-dasharray': '4 4' });
  el('polyline', { points: points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' '), fill: 'none', stroke: '#2b5fab', 'stroke-width': 2 });
  const last = points[points.length - 1];
  el('text', { x: W - R, y: T + 12, 'text-anchor': 'end', 'font-size': 12, fill: note ? '#a86b00' : '#1d1f22', class: 'headline' }, `${last.v.toLocaleString()} ${unit}${note ? ` · ${note}` : ''}`);
  container.append(svg);
}

function drawCharts() {
  const h = state.health;
  const note = h?.running ? (h.stall ? `stalled: ${h.stall.cause}` : h.waitingFor ? 'waiting' : '') : '';
  lineChart($('#throughput'), state.throughput.map((s) => ({ t: s.at, v: s.perSecond })), { unit: 'rec/s', note });
  const d = state.data;
  lineChart($('#lag'), (d?.lag ?? []).map((l) => ({ t: Date.parse(l.at), v: Math.round(l.p95 * 10) / 10 })), { threshold: d?.migration.dashboard.maxLagSeconds ?? null, unit: 's' });
}

function render(data) {
  showAvailable();
  state.data = data;
  state.teamZones = data.migration.dashboard.timeZones || [];
  state.throughput = data.throughput.slice();
  drawClocks();
  renderReadiness(data.readiness);
  renderEntities(data.reconciliation);
  renderLive(data.progress, data.job);
  renderFailures(data.failures);
  renderRuns(data.history ?? data.runs);
  renderHealth(data.health);
  renderProgress(data.runProgress);
  drawCharts();
  updateTitle();
}

/** Empties everything drawn from a migration: nothing of one may stay on the page under another's name. */
function clearMigration() {
  state.data = null;
  state.throughput = [];
  state.verification = null;
  for (const id of ['#entities', '#live', '#failures', '#runs', '#records']) $(`${id} tbody`).replaceChildren();
  $('#records-summary').textContent = '';
  $('#retry-failed').hidden = true;
  $('#records-accepted').hidden = true;
  state.acceptDrafts.clear();
  state.acceptErrors.clear();
  $('#checks').replaceChildren();
  $('#verified-at').textContent = '';
  $('#verification-age').textContent = '';
  $('#job').textContent = '';
  $('#canonical').textContent = '';
  $('#throughput').replaceChildren();
  $('#lag').replaceChildren();
  $('#verdict').textContent = '…';
  $('#verdict').className = '';
  state.health = null;
  for (const id of ['#health', '#progress']) $(`${id} tbody`).replaceChildren();
  $('#stall').hidden = true;
  $('#waiting').textContent = '';
  $('#run-phase').textContent = '';
}

function showAvailable() {
  $('#unavailable').hidden = true;
  $('#unavailable').textContent = '';
}

function showUnavailable(name, err) {
  clearMigration();
  state.stream?.abort();
  state.stream = null;
  const busy = err.code === 'LEDGER_BUSY';
  $('#verdict').textContent = busy ? 'busy: unavailable while another migration runs' : 'unavailable';
  $('#verdict').className = busy ? 'busy' : 'unavailable';
  const box = $('#unavailable');
  box.hidden = false;
  box.textContent = busy
    ? `Migration "${name}" cannot be shown now: ${err.detail.replace(/\.?$/, ".")} It is tried again every few seconds.`
    : `Migration "${name}" cannot be shown now: ${err.message}`;
  state.connected = false;
  const badge = $('#connection');
  badge.textContent = busy ? 'busy' : 'offline';
  badge.className = 'pill off';
  clearTimeout(state.retry);
  state.retry = setTimeout(() => state.migration === name && showMigration(), 5000);
}

async function loadDashboard() {
  const name = state.migration;
  let data;
  try {
    data = await getJson(`/api/migrations/${encodeURIComponent(name)}/dashboard`);
  } catch (err) {
    // An answer for a migration no longer selected is dropped either way.
    if (state.migration === name && err.message !== 'unauthorized') showUnavailable(name, err);
    err.shown = true;
    throw err;
  }
  if (state.migration !== name) return false;
  render(data);
  loadRecords();
  return true;
}

/** Shows the selected migration, following its events once its data is on the page; retried while it is unavailable. */
async function showMigration() {
  clearTimeout(state.retry);
  const name = state.migration;
  try {
    if (await loadDashboard()) followEvents();
  } catch (err) {
    if (err.message === 'unauthorized' || state.migration !== name) return;
    // An answer the API refused has been said by showUnavailable; a page that failed to draw one is
    // said on the console. Either way the migration is tried again, never left stuck.
    if (!err.shown) console.error('the dashboard could not be drawn:', err);
    clearTimeout(state.retry);
    state.retry = setTimeout(() => state.migration === name && showMigration(), 5000);
  }
}

// --- live updates: server-sent events read through fetch, so the token travels in a header, never in a URL ---
async function followEvents() {
  const name = state.migration;
  const controller = new AbortController();
  state.stream?.abort();
  state.stream = controller;
  const badge = $('#connection');
  try {
    const res = await api(`/api/migrations/${encodeURIComponent(name)}/events`, { signal: controller.signal, headers: { accept: 'text/event-stream' } });
    state.connected = true;
    state.lastEventAt = Date.now();
    renderUpdated();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let type = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) type = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        // A stream left behind by a switch of migration draws nothing.
        if (data && state.stream === controller && state.migration === name) onEvent(type, JSON.parse(data));
      }
    }
  } catch (err) {
    if (controller.signal.aborted) return;
  }
  if (state.stream === controller) state.connected = false;
  badge.textContent = 'reconnecting';
  badge.className = 'pill off';
  if (state.stream === controller) setTimeout(() => state.migration === name && followEvents(), 3000);
}

function onEvent(type, data) {
  if (!state.data) return;
  state.lastEventAt = Date.now();
  renderUpdated();
  if (type === 'progress') {
    renderLive(data, data.job);
    renderHealth(data.health);
    renderProgress(data.runProgress);
    if (data.sample && data.job && data.job.status === 'running') {
      state.throughput.push(data.sample);
      if (state.throughput.length > 2100) state.throughput.shift();
      drawCharts();
    }
  } else if (type === 'summary') {
    renderEntities(data.reconciliation);
    renderReadiness(data.readiness);
    updateTitle();
    if (data.reconciliation.acceptances) markAccepted(data.reconciliation.acceptances);
    // The runs table moves with the rest, the running run included, not only when a job ends.
    if (data.history || data.runs) renderRuns(data.history ?? data.runs);
    loadRecords();
  } else if (type === 'job') {
    if (data.status !== 'running') loadDashboard().catch(() => {});
    else renderLive({ run: {}, canonicalLoaded: Number($('#canonical').dataset.value || 0) }, data);
  }
}

// --- downloads carry the token in a header too ---
async function download(path, filename) {
  const blob = await (await api(path)).blob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

async function setupQueries() {
  const { queries } = await getJson('/api/queries');
  const select = $('#queries');
  select.replaceChildren(
    ...queries.map((q) => {
      const o = document.createElement('option');
      o.value = q.id;
      o.textContent = q.title;
      o.dataset.description = q.description;
      return o;
    }),
  );
  const describe = () => ($('#query-description').textContent = select.selectedOptions[0]?.dataset.description ?? '');
  select.onchange = describe;
  describe();
  $('#run-query').onclick = async () => {
    const out = $('#query-result');
    try {
      const { rows, ms } = await getJson(`/api/migrations/${encodeURIComponent(state.migration)}/queries/${select.value}`, { method: 'POST' });
      const columns = rows.length ? Object.keys(rows[0]) : [];
      const table = document.createElement('table');
      table.append(row(columns), ...rows.map((r) => row(columns.map((c) => (typeof r[c] === 'object' ? JSON.stringify(r[c]) : r[c])))));
      const p = document.createElement('p');
      p.textContent = `${rows.length} rows in ${ms} ms`;
      out.replaceChildren(p, table);
    } catch (err) {
      const p = document.createElement('p');
      p.className = 'error';
      p.textContent = err.message;
      out.replaceChildren(p);
    }
  };
}

/** Start and stop buttons, for operators and admins only (the API refuses a viewer anyway). */
async function setupControls(name) {
  const me = await getJson('/api/me');
  if (me.role !== 'operator' && me.role !== 'admin') return;
  state.operator = true;
  $('#controls').hidden = false;
  const say = (text) => ($('#control-result').textContent = text);
  const act = async (path, init) => {
    try {
      const body = await getJson(path, init);
      say(body.job ? `${body.job.kind} ${body.job.status}` : 'done');
    } catch (err) {
      say(err.message);
    }
  };
  for (const b of document.querySelectorAll('#controls button[data-kind]')) b.onclick = () => act(`/api/migrations/${name()}/runs`, post({ kind: b.dataset.kind }));
  $('#retry-failed').onclick = async () => {
    await act(`/api/migrations/${name()}/failures/retry`, post({}));
    $('#records-result').textContent = $('#control-result').textContent;
  };
  loadRecords();
  $('#stop-run').onclick = () => act(`/api/migrations/${name()}/runs/active`, { method: 'DELETE' });
}

function showLogin(message = '') {
  $('#main').hidden = true;
  $('#login').hidden = false;
  $('#login-error').textContent = message;
}

async function start() {
  const { migrations } = await getJson('/api/migrations');
  $('#login').hidden = true;
  $('#main').hidden = false;
  const select = $('#migration');
  select.replaceChildren(
    ...migrations.map((m) => {
      const o = document.createElement('option');
      o.value = o.textContent = m.name;
      return o;
    }),
  );
  const wanted = new URLSearchParams(location.search).get('migration');
  state.migration = migrations.some((m) => m.name === wanted) ? wanted : migrations[0]?.name;
  if (!state.migration) {
    $('#verdict').textContent = 'no migration served yet';
    return;
  }
  select.value = state.migration;
  select.onchange = () => {
    state.migration = select.value;
    history.replaceState(null, '', `?migration=${encodeURIComponent(state.migration)}`);
    state.stream?.abort();
    state.stream = null;
    clearMigration();
    showMigration();
  };
  const name = () => encodeURIComponent(state.migration);
  $('#report-json').onclick = (e) => (e.preventDefault(), download(`/api/migrations/${name()}/report`, `${state.migration}-report.json`));
  $('#report-csv').onclick = (e) => (e.preventDefault(), download(`/api/migrations/${name()}/report?format=csv&part=entities`, `${state.migration}-entities.csv`));
  $('#failures-csv').onclick = (e) => (e.preventDefault(), download(`/api/migrations/${name()}/report?format=csv&part=failures`, `${state.migration}-failures.csv`));
  $('#records-csv').onclick = (e) => (e.preventDefault(), download(`/api/migrations/${name()}/records/${state.recordStatus}?format=csv`, `${state.migration}-${state.recordStatus}.csv`));
  setupRecords();
  setupControls(name).catch(() => {});
  await showMigration();
  setupQueries().catch(() => {});
  clearInterval(state.refresh);
  clearInterval(state.ticker);
  // Ages of delta passes and the clocks move without events.
  state.refresh = setInterval(() => {
    drawClocks();
    if (state.data) loadDashboard().catch(() => {});
  }, 30_000);
  state.ticker = setInterval(() => {
    renderVerificationAge();
    renderUpdated();
  }, 1_000);
}

// A token may arrive in the URL fragment (never sent to the server); it is moved to this tab's storage.
const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
if (fromHash) {
  sessionStorage.setItem('hdm-token', fromHash);
  history.replaceState(null, '', location.pathname + location.search);
}
state.token = sessionStorage.getItem('hdm-token');
$('#login').addEventListener('submit', (e) => {
  e.preventDefault();
  state.token = $('#token').value.trim();
  sessionStorage.setItem('hdm-token', state.token);
  start().catch((err) => showLogin(err.message));
});
if (state.token) start().catch((err) => showLogin(err.message));
else showLogin();
