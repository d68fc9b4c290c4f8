// trustmesh web view: a member's network, one member's page, and the actions a member takes.
// It talks to the node's own API (same origin): the session cookie reads; every change also
// sends the session's X-CSRF-Token (GET /v1/web/session), without which the node answers 403.
"use strict";
const FACETS = ["payment", "delivery", "quality", "relation", "solvency"];
const state = { me: null, csrf: null, names: {}, contacts: {}, myDeals: new Map(), members: [], current: null,
  wanted: null, centre: null, hasContacts: true };
const $ = (id) => document.getElementById(id);

async function api(path, method = "GET", body = undefined) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (method !== "GET") {
    init.headers["X-CSRF-Token"] = state.csrf || "";
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  }
  const reply = await fetch(path, init);
  const data = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new Error(data.error || `${path}: ${reply.status}`);
  return data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v);
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function notice(text, bad = false) {
  const box = $("notice");
  box.textContent = text;
  box.className = bad ? "neg" : "ok";
  box.hidden = false;
}

function verdictCell(s) {
  const v = verdict(s);
  return el("td", { class: `verdict ${v.band}`, title: s ? `score ${s.score.toFixed(2)} ± ${s.uncertainty.toFixed(2)}` : "no evidence" },
    v.text, s && s.disputed ? " " : null, s && s.disputed ? disputedBadge() : null);
}

// A member whose key chain is forked (two key events at one position): the node never
// recommends them while the fork stands, whatever the evidence says (docs/keys.md).
const DISPUTED = "their key chain is forked (two key events at one position): never recommended while it stands";
function disputedBadge() {
  return el("span", { class: "badge disputed", title: DISPUTED }, "disputed");
}

// ---- my own relations ("your supplier") and the contacts book ------------------------

async function loadMine() {
  const [mine, theirs] = await Promise.all([api(`/v1/records?kind=deal&author=${state.me}&limit=1000`),
    api(`/v1/records?kind=deal&subject=${state.me}&limit=1000`)]);
  state.myDeals = new Map();
  for (const d of [...mine, ...theirs]) {
    const other = d.author === state.me ? d.counterparty : d.author;
    const client = d.role === "client" ? d.author : d.counterparty;
    state.myDeals.set(other, { role: client === state.me ? "your supplier" : "your client", deal: d });
  }
  try {
    const contacts = await api("/v1/contacts");
    state.hasContacts = true;
    state.contacts = Object.fromEntries(contacts.map((c) => [c.id, c.name]));
    $("contacts").replaceChildren(...(contacts.length ? contacts.map((c) =>
      el("li", { class: "contact", "data-id": c.id }, link(c.id, c.name), " ", el("code", { class: "short" }, short(c.id)),
        button("remove", "contact-remove", () => act(() => api(`/v1/contacts/${encodeURIComponent(c.id)}`, "DELETE"), "contact removed"))))
      : [el("li", { class: "hint" }, "none yet")]));
  } catch (err) {
    state.hasContacts = false;
    $("contacts").replaceChildren(el("li", { class: "hint" }, "this node keeps no contacts book"));
  }
}

// True when `data` is what `part` last drew: a refresh then leaves that part alone, so
// a live update never redraws under the member's cursor for nothing.
const drawn = {};
function unchanged(part, ...data) {
  const text = JSON.stringify([data, state.contacts, state.names]);
  if (drawn[part] === text) return true;
  drawn[part] = text;
  return false;
}

// Answers can come back out of order (a live refresh of the member I just left, after the
// page of the one I opened): only the answer to the latest request of a part is drawn.
const latest = {};
const ticket = (part) => (latest[part] = (latest[part] || 0) + 1);
const stale = (part, t) => latest[part] !== t;

function link(id, text = null) {
  const a = el("a", { href: `#/member/${id}`, class: "member-link", "data-id": id }, text || nameOf(id));
  return a;
}

function button(text, cls, onClick, data = {}) {
  const b = el("button", { type: "button", class: cls, ...data }, text);
  b.addEventListener("click", onClick);
  return b;
}

// Run a change, say how it went, refresh what it touched.
async function act(change, done) {
  try {
    await change();
    notice(done);
    await refresh();
  } catch (err) {
    notice(String(err.message || err), true);
  }
}

// ---- the overview -------------------------------------------------------------------

async function loadOverview() {
  const [peers, members, pending, sent] = await Promise.all(
    [api("/v1/peers"), api("/v1/members"), api("/v1/deals/pending"), api("/v1/deals/sent")]);
  $("peer-count").textContent = peers.length;
  $("peers").replaceChildren(...peers.map((p) => el("li", {}, link(p.id), " ", el("code", { class: "short" }, short(p.id)))));
  for (const m of members) if (m.name) state.names[m.id] = m.name;
  state.members = members;
  if (unchanged("overview", peers, members, pending, sent)) return;
  renderMembers();
  $("pending").replaceChildren(...(pending.length ? pending.map((d) => el("li", { class: "pending-deal", "data-id": d.id },
    `${nameOf(d.author)} proposes ${d.ref.slice(0, 8)}: they are the ${d.role}${d.due ? `, due ${day(d.due)}` : ""} `,
    button("Accept", "deal-accept", () => act(() => api(`/v1/deals/${d.id}/accept`, "POST"), "deal accepted and signed"), { "data-id": d.id }),
    button("Decline", "deal-decline", () => act(() => api(`/v1/deals/${d.id}/decline`, "POST"), "deal declined"), { "data-id": d.id })))
    : [el("li", { class: "hint" }, "none")]));
  $("sent").replaceChildren(...sent.map((d) => el("li", { class: "sent-deal" },
    `to ${nameOf(d.counterparty)}: I am the ${d.role}, ${d.status}${d.reason ? ` (${d.reason})` : ""}`)));
}

function matches(m, text) {
  if (!text) return true;
  const t = text.toLowerCase();
  return [m.id, m.name || "", state.contacts[m.id] || "", ...(m.skills || [])].some((x) => x.toLowerCase().includes(t));
}

function renderMembers() {
  const text = $("search").value.trim();
  const body = document.querySelector("#members tbody");
  body.replaceChildren(...state.members.filter((m) => matches(m, text)).map((m) => {
    const row = el("tr", { class: "member", "data-id": m.id },
      el("td", {}, nameOf(m.id), " ", el("code", { class: "short" }, short(m.id))),
      ...FACETS.map((f) => verdictCell(m.facets[f])),
      el("td", { class: "skills" }, (m.skills || []).map((s) => s.slice(6)).join(", ")));
    row.addEventListener("click", () => { location.hash = `#/member/${m.id}`; });
    return row;
  }));
}

// ---- one member's page ----------------------------------------------------------------

function recordItem(r, replies) {
  const flags = [r.retracted && "retracted", r.expired && "expired", r.contested && "contested"].filter(Boolean);
  const li = el("li", { class: `record ${r.type}${r.retracted ? " retracted" : ""}`, "data-id": r.id },
    recordWords(r), flags.length ? el("span", { class: "flags" }, ` [${flags.join(", ")}]`) : null);
  for (const reply of replies.filter((x) => x.target === r.id)) {
    li.append(el("div", { class: "reply" }, `↳ ${nameOf(reply.author)} ${reply.stance === "contest" ? "contests" : "acknowledges"}` +
      `${reply.note ? `: “${reply.note}”` : ""}, ${day(reply.issued)}`));
  }
  if (!r.retracted && r.type !== "retraction" && (r.author === state.me || (r.type === "deal" && r.counterparty === state.me))) {
    li.append(" ", button("Retract…", "retract", () => li.querySelector(".retract-form") || li.append(retractForm(r)),
      { "data-id": r.id }));
  }
  if (!r.retracted && r.type === "attestation" && r.subject === state.me
      && !replies.some((x) => x.target === r.id && x.author === state.me)) {
    li.append(replyForm(r));
  }
  return li;
}

function retractForm(r) {
  const form = el("form", { class: "retract-form inline", "data-id": r.id });
  const reason = el("input", { class: "retract-reason", maxlength: "500", placeholder: "why (optional)" });
  form.append(reason, el("button", { type: "submit" }, "Retract it"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(() => api("/v1/retractions", "POST", { target: r.id, reason: reason.value || null }), "retracted");
  });
  return form;
}

function replyForm(r) {
  const form = el("form", { class: "reply-form inline", "data-id": r.id });
  const stance = el("select", { class: "reply-stance" }, el("option", { value: "contest" }, "contest"), el("option", { value: "acknowledge" }, "acknowledge"));
  const note = el("input", { class: "reply-note", maxlength: "500", placeholder: "my answer" });
  form.append(stance, note, el("button", { type: "submit" }, "Reply"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(() => api("/v1/replies", "POST", { target: r.id, stance: stance.value, note: note.value || null }), "reply published");
  });
  return form;
}

async function showMember(id) {
  const t = ticket("member");
  const page = await api(`/v1/members/${id}`);
  if (stale("member", t)) return;
  Object.assign(state.names, page.names);
  const opened = state.current !== page.id;       // a new page: its forms start afresh; a redraw keeps what is typed
  const same = !opened && unchanged("member", page, [...state.myDeals.keys()]);
  state.current = page.id;
  if (same) return showGraph(page.id);
  $("member").hidden = false;
  const profile = page.profile;
  $("member-name").textContent = page.me ? "me" : nameOf(page.id);
  $("member-id").textContent = page.id;
  $("member-disputed").hidden = !page.trust.some((s) => s.disputed);
  $("member-profile").textContent = profile ? [profile.name, profile.org, profile.url].filter(Boolean).join(" · ") : "no profile published";
  $("contact-form").hidden = page.me || !state.hasContacts;
  if (opened) $("contact-name").value = state.contacts[page.id] || (profile ? profile.name : "");
  $("member-actions").hidden = page.me;
  $("profile-form").hidden = !page.me;
  if (opened && page.me && profile) { $("profile-name").value = profile.name; $("profile-org").value = profile.org || ""; $("profile-url").value = profile.url || ""; }

  const byId = new Map(page.records.map((r) => [r.id, r]));
  $("verdicts").tBodies[0].replaceChildren(...page.trust.map((s) => el("tr", { class: "facet", "data-facet": s.facet },
    el("td", {}, s.facet.startsWith("skill:") ? `skill: ${s.facet.slice(6)}` : s.facet), verdictCell(s),
    el("td", {}, s.evidence ? `${s.score.toFixed(2)} ± ${s.uncertainty.toFixed(2)}` : "–"),
    el("td", {}, s.evidence ? `${s.evidence} by ${s.authors}${s.contested ? `, ${s.contested} contested` : ""}` : "none"))));
  const box = $("explanation");
  box.replaceChildren();
  for (const s of page.trust.filter((x) => x.evidence > 0)) {
    box.append(el("h4", {}, `${s.facet}: ${verdict(s).text}`, s.disputed ? " " : null, s.disputed ? disputedBadge() : null));
    box.append(el("ul", { class: "evidence" }, ...s.explanation.map((item) => el("li", { class: `attestation ${item.positive ? "pos" : "neg"}`, "data-id": item.record },
      el("span", { class: "sign" }, item.positive ? "+ " : "− "), said(item, byId.get(item.record), s.facet),
      item.contested ? el("span", { class: "flags" }, " [they contest it]") : null,
      el("div", { class: "chain" }, chainWords(item))))));
  }
  if (!box.children.length) box.append(el("p", { class: "hint" }, page.me ? "This is you: what others say about you is below." : "Nothing said about them reaches me yet."));
  const aboutMe = page.records.filter((r) => page.me ? r.subject === state.me && r.author !== state.me : r.author === page.id && (r.subject === state.me || r.counterparty === state.me));
  $("about-me-title").textContent = page.me ? "What others say about me" : "What they say about me, and our deals";
  $("about-me").replaceChildren(...(aboutMe.length ? aboutMe.map((r) => recordItem(r, page.replies)) : [el("li", { class: "hint" }, "nothing")]));
  $("records").replaceChildren(...page.records.map((r) => recordItem(r, page.replies)));
  const deals = page.records.filter((r) => r.type === "deal" && !r.retracted && (r.author === state.me || r.counterparty === state.me));
  const chosen = opened ? "" : $("attest-deal").value;
  $("attest-deal").replaceChildren(el("option", { value: "" }, "none"), ...deals.map((d) => el("option", { value: d.id }, `deal ${d.id.slice(0, 8)}, ${day(d.issued)}`)));
  if (deals.some((d) => d.id === chosen)) $("attest-deal").value = chosen;
  await showGraph(page.id);
}

// ---- the graph ----------------------------------------------------------------------------

async function showGraph(around) {
  const t = ticket("graph");
  const graph = await api(around && around !== state.me ? `/v1/graph?around=${around}` : "/v1/graph");
  if (stale("graph", t)) return;
  state.centre = graph.centre;
  for (const n of graph.nodes) if (n.name && !state.names[n.id]) state.names[n.id] = n.name;
  if (unchanged("graph", graph)) return;
  $("graph-centre").textContent = nameOf(graph.centre);
  $("graph-hint").textContent = `Members within two relations (deals, positive attestations) of ${nameOf(graph.centre)}` +
    (graph.left_out ? `; ${graph.left_out} farther or less connected members left out.` : ".") + " A click on a member opens them.";
  window.trustGraph.drawGraph($("graph"), graph, (n) => nameOf(n.id),
    (n) => verdict(n.lower === null ? null : { evidence: 1, uncertainty: 0, lower: n.lower, score: n.lower, verdict: n.verdict }).band,
    (id) => { location.hash = `#/member/${id}`; });
}

// ---- forms --------------------------------------------------------------------------------

function wireForms() {
  $("search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("search").value.trim();
    const found = state.members.filter((m) => matches(m, text));
    const contact = Object.entries(state.contacts).find(([, name]) => name.toLowerCase() === text.toLowerCase());
    const target = contact ? contact[0] : found.length === 1 ? found[0].id : /^(12D3KooW|did:key:)/.test(text) ? text : null;
    if (target) location.hash = `#/member/${target}`;
    else notice(found.length ? `${found.length} members match: pick one in the list` : "no member matches", !found.length);
  });
  $("search").addEventListener("input", renderMembers);
  $("logout").addEventListener("click", () => api("/v1/web/logout", "POST").then(() => location.replace("/ui"),
    (err) => notice(String(err.message || err), true)));
  $("attest-facet").addEventListener("change", () => { $("attest-skill-label").hidden = $("attest-facet").value !== "skill"; });
  $("attest-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const facet = $("attest-facet").value === "skill" ? `skill:${$("attest-skill").value.trim()}` : $("attest-facet").value;
    const body = { subject: state.current, facet, positive: $("attest-positive").checked,
      note: $("attest-note").value || null, ref: $("attest-ref").value || null, deal: $("attest-deal").value || null,
      occurred: msOfDay($("attest-date").value) };
    act(() => api("/v1/attestations", "POST", body), `attestation on ${facet} signed and published`)
      .then(() => { $("attest-note").value = ""; $("attest-ref").value = ""; });
  });
  $("deal-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const body = { counterparty: state.current, ref: $("deal-ref").value, role: $("deal-role").value, due: msOfDay($("deal-due").value) };
    act(async () => {
      const out = await api("/v1/deals", "POST", body);
      if (out.status === "declined") throw new Error(`declined${out.reason ? `: ${out.reason}` : ""}`);
    }, "deal proposed");
  });
  $("contact-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(() => api("/v1/contacts", "POST", { name: $("contact-name").value.trim(), id: state.current }), "contact saved");
  });
  $("profile-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(() => api("/v1/profile", "PUT", { name: $("profile-name").value, org: $("profile-org").value || null, url: $("profile-url").value || null }), "profile published");
  });
}

// ---- routing, refresh and live updates ------------------------------------------------------

async function route() {
  const m = location.hash.match(/^#\/member\/(.+)$/);
  state.wanted = m ? decodeURIComponent(m[1]) : null;    // what a refresh redraws from now on
  if (m) {
    await showMember(state.wanted);
    $("member").scrollIntoView({ block: "start" });
  } else {
    ticket("member");                 // a member's page on its way is no longer wanted
    state.current = null;
    $("member").hidden = true;
    await showGraph(null);
  }
}

// One refresh at a time; one asked for during another runs after it (what it read may
// predate the change that asked), and the asks made meanwhile share that one.
let refreshing = null, queued = null;
function refresh() {
  if (queued) return queued;
  if (refreshing) {
    queued = refreshing.catch(() => {}).then(() => { queued = null; return refresh(); });
    return queued;
  }
  refreshing = (async () => {
    await loadMine();
    await loadOverview();
    if (state.wanted) await showMember(state.wanted); else await showGraph(state.centre);
  })().finally(() => { refreshing = null; document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1); });
  return refreshing;
}

// At most one refresh waiting: events that come in a flood (a catch-up of thousands of
// records) cost one refresh per quarter second at most, and the page still moves during it.
let pendingRefresh = null;
function soon() {
  if (pendingRefresh) return;
  pendingRefresh = setTimeout(() => {
    pendingRefresh = null;
    // a reply or retraction being typed lives in a list a refresh redraws: wait for it
    if (document.activeElement && document.activeElement.closest("#records, #about-me")) return soon();
    refresh().catch((err) => notice(String(err.message || err), true));
  }, 250);
}

// The node's event stream (NDJSON over a streamed GET): every new record, proposal or peer.
async function listen(backoff = 1000) {
  try {
    const reply = await fetch("/v1/events?kinds=record,records,deal-proposal,peer-up,peer-down&brief=true", { credentials: "same-origin" });
    if (!reply.ok) throw new Error(String(reply.status));
    const reader = reply.body.getReader();
    const text = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += text.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 1);
        if (!line) continue;
        const event = JSON.parse(line);
        if (event.event === "subscribed") { $("live").textContent = "live"; $("live").className = "live-on"; document.body.dataset.live = "yes"; backoff = 1000; }
        else { document.body.dataset.events = String(Number(document.body.dataset.events || 0) + 1); soon(); }
      }
    }
  } catch (err) { /* the node went away: try again below */ }
  $("live").textContent = "offline"; $("live").className = "live-off"; document.body.dataset.live = "no";
  setTimeout(() => listen(Math.min(backoff * 2, 30000)), backoff);
}

async function main() {
  if (location.search) history.replaceState(null, "", "/ui" + location.hash);   // the token leaves the URL bar
  const session = await api("/v1/web/session");
  state.me = session.me;
  state.csrf = session.csrf;
  $("me").textContent = state.me;
  $("me-link").href = `#/member/${state.me}`;
  wireForms();
  await loadMine();
  await loadOverview();
  await route();
  window.addEventListener("hashchange", () => route().catch((err) => notice(String(err.message || err), true)));
  listen();
  document.body.dataset.ready = "yes";
}

main().catch((err) => { document.body.dataset.ready = "error"; notice(String(err.message || err), true); });
