// trustmesh web view: the neighbourhood graph, a force layout drawn in SVG (no library).
// Why computed at once and not animated: at most ~200 members, a few hundred steps take
// milliseconds, and a still picture is one a member can read.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

// Positions for nodes [{id, centre}] and links [{from, to}] in a width x height box.
function forceLayout(nodes, links, width, height, steps = 300) {
  const n = nodes.length;
  const index = new Map(nodes.map((node, i) => [node.id, i]));
  // a deterministic start (a circle, by id order), so the same network draws the same way
  const pos = nodes.map((node, i) => node.centre ? [width / 2, height / 2]
    : [width / 2 + (width / 3) * Math.cos((2 * Math.PI * i) / n), height / 2 + (height / 3) * Math.sin((2 * Math.PI * i) / n)]);
  const pairs = links.map((l) => [index.get(l.from), index.get(l.to)]).filter(([a, b]) => a !== undefined && b !== undefined);
  const ideal = Math.max(40, Math.min(width, height) / (1 + Math.sqrt(n)));
  for (let step = 0; step < steps; step++) {
    const heat = 0.1 * (1 - step / steps) * ideal;
    const move = pos.map(() => [0, 0]);
    for (let i = 0; i < n; i++) {              // every pair pushes apart
      for (let j = i + 1; j < n; j++) {
        let dx = pos[i][0] - pos[j][0], dy = pos[i][1] - pos[j][1];
        const d2 = Math.max(dx * dx + dy * dy, 1);
        const f = (ideal * ideal) / d2;
        dx *= f; dy *= f;
        move[i][0] += dx; move[i][1] += dy; move[j][0] -= dx; move[j][1] -= dy;
      }
    }
    for (const [a, b] of pairs) {              // every relation pulls together
      const dx = pos[a][0] - pos[b][0], dy = pos[a][1] - pos[b][1];
      const d = Math.max(Math.hypot(dx, dy), 1);
      const f = d / ideal;
      move[a][0] -= dx * f; move[a][1] -= dy * f; move[b][0] += dx * f; move[b][1] += dy * f;
    }
    for (let i = 0; i < n; i++) {
      if (nodes[i].centre) continue;            // the centre stays in the middle
      const m = Math.hypot(move[i][0], move[i][1]) || 1;
      const limit = Math.min(m, heat);
      pos[i][0] = Math.min(width - 30, Math.max(30, pos[i][0] + (move[i][0] / m) * limit));
      pos[i][1] = Math.min(height - 20, Math.max(20, pos[i][1] + (move[i][1] / m) * limit));
    }
  }
  return new Map(nodes.map((node, i) => [node.id, pos[i]]));
}

function svgEl(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

// Draw graph {nodes, links} into svg; label(node) names a member, band(node) is its colour class.
function drawGraph(svg, graph, label, band, onPick) {
  svg.replaceChildren();
  const place = forceLayout(graph.nodes, graph.links, 640, 480, graph.nodes.length > 120 ? 150 : 300);
  for (const link of graph.links) {
    const [a, b] = [place.get(link.from), place.get(link.to)];
    if (!a || !b) continue;
    svg.append(svgEl("line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1], class: "graph-link" }));
  }
  const labelled = graph.nodes.length <= 60;     // past that, labels on the centre and its direct relations
  for (const n of graph.nodes) {
    const [x, y] = place.get(n.id);
    const group = svgEl("g", { class: "graph-member", "data-id": n.id });
    const dot = svgEl("circle", { cx: x, cy: y, r: n.me || n.centre ? 11 : 7,
      class: `graph-node ${n.me ? "me" : band(n)}${n.centre ? " centre" : ""}`, "data-id": n.id });
    const title = svgEl("title", {});
    title.textContent = `${label(n)} (${n.id})`;
    dot.append(title);
    group.append(dot);
    if (labelled || n.distance <= 1) {
      const text = svgEl("text", { x: x + 13, y: y + 4, class: "graph-label" });
      text.textContent = label(n);
      group.append(text);
    }
    group.addEventListener("click", () => onPick(n.id));
    svg.append(group);
  }
}

window.trustGraph = { forceLayout, drawGraph };
