// trustmesh web view: read-only, talks to the node's own API (same origin, same credentials).
"use strict";
const FACETS = ["payment", "delivery", "quality", "relation", "solvency"];

async function api(path) {
  const reply = await fetch(path, { credentials: "same-origin" });
  if (!reply.ok) throw new Error(`${path}: ${reply.status}`);
  return reply.json();
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) node.append(child);
  return node;
}

const short = (id) => id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id;

function cell(score) {
  if (!score) return el("td", {}, "–");
  const bar = el("span", { class: "bar" });
  bar.style.width = `${Math.round(score.lower * 60)}px`;     // CSSOM: allowed by the page's CSP
  const verdict = el("span", { class: `verdict ${(score.verdict || "unknown").replace(" ", "-")}` }, score.verdict || "unknown");
  return el("td", {}, verdict, " ", bar, `${score.score.toFixed(2)} ± ${score.uncertainty.toFixed(2)}`);
}

async function showMember(member) {
  const section = document.getElementById("member");
  section.hidden = false;
  document.getElementById("member-name").textContent = member.name || short(member.id);
  const box = document.getElementById("explanation");
  box.replaceChildren();
  const scores = await api(`/v1/trust/${member.id}?explain=1`);
  for (const s of scores.filter((x) => x.evidence > 0)) {
    box.append(el("h3", {}, `${s.facet}: ${s.verdict}, ${s.score.toFixed(2)} (at least ${s.lower.toFixed(2)}, ${s.evidence} attestations by ${s.authors})`));
    const list = el("ul", { class: "evidence" });
    for (const item of s.explanation) {
      const verdict = el("span", item.positive ? {} : { class: "neg" }, item.positive ? "+" : "−");
      const discounted = item.rater_credibility < 0.995 ? ` (word discounted to ${Math.round(item.rater_credibility * 100)}%)` : "";
      const chain = el("div", { class: "chain" }, item.first_hand ? "first-hand" : item.chain.length > 1 ? `me → ${item.chain.slice(1).map(short).join(" → ")}${discounted}` : "no chain from me");
      list.append(el("li", { class: "attestation" }, verdict, ` by ${short(item.author)}${item.deal ? " (deal)" : ""}${item.first_hand ? " (mine)" : ""}, weight ${item.weight.toFixed(2)}`, chain));
    }
    box.append(list);
  }
}

function drawGraph(graph) {
  const svg = document.getElementById("graph");
  const ns = "http://www.w3.org/2000/svg";
  const others = graph.nodes.filter((n) => !n.me);
  const place = {};
  graph.nodes.forEach((n) => { if (n.me) place[n.id] = [320, 240]; });
  others.forEach((n, i) => {
    const angle = (2 * Math.PI * i) / Math.max(others.length, 1);
    place[n.id] = [320 + 190 * Math.cos(angle), 240 + 190 * Math.sin(angle)];
  });
  for (const link of graph.links) {
    const [a, b] = [place[link.from], place[link.to]];
    if (!a || !b) continue;
    const line = document.createElementNS(ns, "line");
    Object.entries({ x1: a[0], y1: a[1], x2: b[0], y2: b[1], stroke: "#bbb" }).forEach(([k, v]) => line.setAttribute(k, v));
    svg.append(line);
  }
  for (const n of graph.nodes) {
    const [x, y] = place[n.id];
    const colour = n.me ? "#36c" : n.lower === null ? "#aaa" : `hsl(${Math.round(n.lower * 120)}, 60%, 45%)`;
    const dot = document.createElementNS(ns, "circle");
    Object.entries({ cx: x, cy: y, r: n.me ? 12 : 8, fill: colour, class: "graph-node", "data-id": n.id }).forEach(([k, v]) => dot.setAttribute(k, v));
    const title = document.createElementNS(ns, "title");
    title.textContent = n.me ? "me" : `${n.id} (${n.lower === null ? "unknown" : n.lower.toFixed(2)})`;
    dot.append(title);
    svg.append(dot);
  }
}

async function main() {
  const [identity, peers, members, graph] = await Promise.all(
    [api("/v1/identity"), api("/v1/peers"), api("/v1/members"), api("/v1/graph")]);
  document.getElementById("me").textContent = identity.id;
  document.getElementById("peer-count").textContent = peers.length;
  document.getElementById("peers").replaceChildren(...peers.map((p) => el("li", {}, el("code", {}, p.id))));
  const body = document.querySelector("#members tbody");
  for (const m of members) {
    const row = el("tr", { class: "member", "data-id": m.id }, el("td", {}, m.name || short(m.id)), ...FACETS.map((f) => cell(m.facets[f])));
    row.addEventListener("click", () => showMember(m));
    body.append(row);
  }
  drawGraph(graph);
  document.body.dataset.ready = "yes";
}

main().catch((err) => { document.body.dataset.ready = "error"; document.body.append(el("p", { class: "neg" }, String(err))); });
