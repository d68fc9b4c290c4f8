// trustmesh web view: what the page says in words - names, dates, verdicts, explanations.
// Loaded before app.js; reads its `state` (names, contacts, my deals) when called.
"use strict";

const short = (id) => id && id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
const day = (iso) => iso ? iso.slice(0, 10) : "";
const dayOfMs = (ms) => ms ? new Date(ms).toISOString().slice(0, 10) : "";
const msOfDay = (text) => text ? Date.parse(`${text}T12:00:00Z`) : null;
function nameOf(id) {
  if (id === state.me) return "me";
  return state.contacts[id] || state.names[id] || short(id);
}

// The verdict the node gives (the `verdict` field), else a band of the score, in words.
function verdict(s) {
  if (!s) return { text: "unknown", band: "unknown" };
  if (s.verdict) {
    const v = String(s.verdict).toLowerCase();
    const band = /recommend|good/.test(v) ? "good" : /warn|bad|avoid/.test(v) ? "low" : /unknown/.test(v) ? "unknown" : "fair";
    return { text: String(s.verdict).replace(/_/g, " "), band };
  }
  if (!s.evidence || s.uncertainty >= 0.999) return { text: "unknown", band: "unknown" };
  if (s.lower >= 0.7) return { text: "high", band: "good" };
  if (s.score < 0.4) return { text: "low", band: "low" };
  return { text: "fair", band: "fair" };
}

function said(item, rec, facet) {
  // "Bob (your supplier) said: delivered 3 weeks late, 2026-10-02, backed by a deal"
  const who = item.first_hand ? "You" : nameOf(item.author);
  const relation = !item.first_hand && state.myDeals.has(item.author) ? ` (${state.myDeals.get(item.author).role})` : "";
  const what = rec && rec.note ? rec.note : `${item.positive ? "good" : "bad"} ${facet}`;
  const when = rec ? day(rec.occurred) : dayOfMs(item.occurred);
  const backing = item.deal ? `, backed by deal ${rec && rec.deal ? rec.deal.slice(0, 8) : "(signed by both)"}` : "";
  return `${who}${relation} said: ${what}, ${when}${backing}`;
}

function chainWords(item) {
  if (item.first_hand) return "your own word";
  if (!item.chain.length) return "no chain of people from you: it counts for nothing";
  const via = item.chain.slice(1).map(nameOf).join(" → ");
  const discount = item.rater_credibility < 0.995 ? `; their word discounted to ${Math.round(item.rater_credibility * 100)}%` : "";
  return `you → ${via}, weight ${item.weight.toFixed(2)}${discount}`;
}

function recordWords(r) {
  const author = nameOf(r.author);
  if (r.type === "attestation") {
    return `${author} about ${nameOf(r.subject)}, ${r.facet}: ${r.positive ? "positive" : "negative"}` +
      `${r.note ? ` — “${r.note}”` : ""}, ${day(r.occurred)}${r.deal ? `, deal ${r.deal.slice(0, 8)}` : ""}`;
  }
  if (r.type === "deal") {
    const client = r.role === "client" ? r.author : r.counterparty;
    const supplier = client === r.author ? r.counterparty : r.author;
    return `deal ${r.id.slice(0, 8)}: ${nameOf(client)} client of ${nameOf(supplier)}, ${day(r.issued)}${r.due ? `, due ${day(r.due)}` : ""}`;
  }
  if (r.type === "reply") return `${author} replied (${r.stance}) to ${r.target.slice(0, 8)}${r.note ? `: “${r.note}”` : ""}, ${day(r.issued)}`;
  if (r.type === "retraction") return `${author} retracted ${r.target.slice(0, 8)}${r.reason ? `: “${r.reason}”` : ""}, ${day(r.issued)}`;
  if (r.type === "profile") return `${author} published a profile: ${r.name}${r.org ? `, ${r.org}` : ""}, ${day(r.issued)}`;
  return `${r.type} by ${author}, ${day(r.issued)}`;
}
