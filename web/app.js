// app.js -- the playground page: buttons and drawing. Values, the forward pass, the narrated
// sweep, the gradients and training all come from the library (backprop.wasm, web/playground.c);
// this file parses the text it answers and draws it. No model arithmetic is done here.
import { loadBackprop } from "./wasi.js";
import { instance as vizInstance } from "./viz.js";

const $ = (id) => document.getElementById(id);
const state = { lib: null, viz: null, model: 0, nodes: 0, phase: "idle", step: 0, sweepNodes: 0, errors: [] };

function status(message) { $("status").textContent = message || ""; }

// A call that failed shows its reason and stops what was being done.
function check(answer, what) {
  if (answer.rc < 0) {
    status(`${what}: ${answer.text}`);
    throw new Error(`${what}: ${answer.text}`);
  }
  return answer;
}

// ---- the graph ------------------------------------------------------------------------------

// Draw the DOT text the library wrote; nodes after `upTo` (forward) are faded, node `current`
// outlined. Graphviz titles each box with its DOT id: n0, n1, ... for op results, l0, ... leaves.
function drawGraph(dot, { upTo = Infinity, current = -1 } = {}) {
  const svg = state.viz.renderSVGElement(dot);
  for (const g of svg.querySelectorAll("g.node")) {
    const id = g.querySelector("title").textContent;
    const m = /^n(\d+)$/.exec(id);
    if (m && Number(m[1]) > upTo) g.classList.add("pending");
    if (m && Number(m[1]) === current) g.classList.add("current");
  }
  $("graph").replaceChildren(svg);
}

// ---- values ---------------------------------------------------------------------------------

function showValues() {
  const rows = check(state.lib.values(), "values").text.trim().split("\n").filter(Boolean);
  const table = $("values");
  table.replaceChildren();
  rows.forEach((row, i) => {
    const [name, value, kind] = row.split("\t");
    const tr = table.insertRow();
    tr.insertCell().textContent = name;
    const input = document.createElement("input");
    input.type = "text";
    input.value = value;
    input.dataset.index = i;
    input.title = kind;
    input.addEventListener("change", () => {
      const answer = state.lib.setValue(i, Number(input.value));
      if (answer.rc < 0) status(`${name}: ${answer.text}`);
      else status("");
      restart();
    });
    tr.insertCell().append(input);
    tr.insertCell().textContent = kind;
  });
}

// ---- stepping -------------------------------------------------------------------------------

function showNarration(lines, currentPrefix) {
  const pre = $("narration");
  pre.replaceChildren();
  for (const line of lines) {
    const span = document.createElement("span");
    span.textContent = line + "\n";
    if (currentPrefix && line.startsWith(currentPrefix)) span.className = "current";
    pre.append(span);
  }
  pre.scrollTop = pre.scrollHeight;
}

function restart() {
  state.phase = "idle";
  state.step = 0;
  state.nodes = check(state.lib.record(), "forward").rc;
  state.sweepNodes = check(state.lib.backward(-1), "backward").rc; // how many nodes it reaches
  $("phase").textContent = `${state.nodes} nodes recorded`;
  showNarration([]);
  drawGraph(check(state.lib.forwardDot(), "graph").text);
  showFigures();
}

function forwardStep() {
  if (state.phase !== "forward") { state.phase = "forward"; state.step = 0; }
  else if (state.step < state.nodes - 1) state.step++;
  const lines = [];
  for (let i = 0; i <= state.step; i++) lines.push(check(state.lib.forwardLine(i), "forward").text);
  showNarration(lines, `node ${state.step} `);
  drawGraph(check(state.lib.forwardDot(), "graph").text, { upTo: state.step, current: state.step });
  $("phase").textContent = `forward: node ${state.step} of ${state.nodes - 1}`;
}

function backwardStep(all = false) {
  if (state.phase !== "backward") { state.phase = "backward"; state.step = 0; }
  state.step = all ? state.sweepNodes : Math.min(state.step + 1, state.sweepNodes);
  const text = check(state.lib.backward(state.step), "backward").text;
  const lines = text.trim().split("\n").filter(Boolean);
  let current = -1;
  for (const line of lines) {
    const m = /^node (\d+) /.exec(line);
    if (m) current = Number(m[1]);
  }
  showNarration(lines, current >= 0 ? `node ${current} ` : null);
  drawGraph(check(state.lib.backwardDot(state.step), "graph").text, { current });
  $("phase").textContent = `backward: step ${state.step} of ${state.sweepNodes} (node ${current})`;
}

// ---- training -------------------------------------------------------------------------------

function showFigures() {
  const [value, hex, sweeps] = check(state.lib.error(), "error").text.split("\t");
  $("error-value").textContent = value;
  $("error-hex").textContent = hex;
  $("sweeps-done").textContent = sweeps;
  $("right").textContent = check(state.lib.outputs(), "outputs").text.split(" ")[0];
  drawCurve();
  if (state.model === 2) drawHinton();
}

// The error per sweep as a line (drawing: the values are the library's).
function drawCurve() {
  const svg = $("curve"), w = svg.width.baseVal.value, h = svg.height.baseVal.value, pad = 30;
  const e = state.errors;
  const max = Math.max(...e, 1e-12);
  const points = e.map((v, i) => `${pad + (i / Math.max(e.length - 1, 1)) * (w - pad - 5)},${h - pad - (v / max) * (h - pad - 10)}`);
  svg.innerHTML = `<line x1="${pad}" y1="${h - pad}" x2="${w - 5}" y2="${h - pad}" stroke="#888"/>` +
    `<line x1="${pad}" y1="10" x2="${pad}" y2="${h - pad}" stroke="#888"/>` +
    `<text x="${pad}" y="${h - 10}" font-size="11">0</text>` +
    `<text x="${w - 60}" y="${h - 10}" font-size="11">${e.length ? e.length - 1 : 0} sweeps</text>` +
    `<text x="2" y="16" font-size="11">${max.toPrecision(3)}</text>` +
    `<polyline fill="none" stroke="#2d6a1e" stroke-width="1.5" points="${points.join(" ")}"/>`;
}

// The symmetry net's weights as a Hinton diagram: a square per weight, its area the weight's
// size (relative to the largest), white for positive and black for negative, as in the paper.
function drawHinton() {
  const rows = check(state.lib.weights(), "weights").text.trim().split("\n");
  const params = rows.map((r) => {
    const f = r.split(" ");
    return { name: f[0], rows: Number(f[1]), cols: Number(f[2]), v: f.slice(3).map(Number) };
  });
  const max = Math.max(...params.flatMap((p) => p.v.map(Math.abs)), 1e-12);
  const cell = 26;
  let x = 10, svg = "";
  for (const p of params) {
    svg += `<text x="${x}" y="14" font-size="11">${p.name}</text>`;
    for (let r = 0; r < p.rows; r++)
      for (let c = 0; c < p.cols; c++) {
        const v = p.v[r * p.cols + c], side = Math.sqrt(Math.abs(v) / max) * (cell - 4);
        const cx = x + c * cell + cell / 2, cy = 22 + r * cell + cell / 2;
        svg += `<rect x="${cx - cell / 2}" y="${cy - cell / 2}" width="${cell}" height="${cell}" fill="#999"/>` +
          `<rect x="${cx - side / 2}" y="${cy - side / 2}" width="${side}" height="${side}" fill="${v >= 0 ? "#fff" : "#000"}"><title>${p.name}: ${v}</title></rect>`;
      }
    x += p.cols * cell + 16;
  }
  $("hinton").innerHTML = svg;
}

async function train() {
  const total = Number($("sweeps").value);
  delete document.body.dataset.trained; // set again, to the sweeps done, when this run ends
  check(state.lib.setRule(Number($("eps").value), Number($("alpha").value)), "train");
  $("train").disabled = true;
  if (state.errors.length === 0) state.errors.push(Number(check(state.lib.error(), "error").text.split("\t")[0]));
  let done = 0;
  while (done < total) {
    const chunk = Math.min(25, total - done);
    const lines = check(state.lib.train(chunk), "train").text.trim().split("\n").map(Number);
    state.errors.push(...lines.slice(1)); // the error after each change
    done += chunk;
    showFigures();
    await new Promise((resolve) => requestAnimationFrame(resolve));
  }
  $("train").disabled = false;
  showValues();
  restart();
  document.body.dataset.trained = String(done);
}

// ---- loading a model --------------------------------------------------------------------------

function load() {
  status("");
  state.model = Number(document.querySelector("input[name=model]:checked").value);
  state.lib.setSeed(Number($("seed").value));
  const answer = state.model === 3 ? state.lib.expression($("expression").value) : state.lib.model(state.model);
  check(answer, "model");
  state.errors = [];
  const symmetry = state.model === 2;
  $("eps").value = symmetry ? 0.1 : 0.5; // examples/symmetry and examples/xor's settings
  $("alpha").value = 0.9;
  $("hinton-box").hidden = !symmetry;
  showValues();
  restart();
}

async function main() {
  [state.lib, state.viz] = await Promise.all([loadBackprop("backprop.wasm"), vizInstance()]);
  $("load").addEventListener("click", load);
  $("forward-step").addEventListener("click", forwardStep);
  $("backward-step").addEventListener("click", () => backwardStep(false));
  $("backward-all").addEventListener("click", () => backwardStep(true));
  $("restart").addEventListener("click", restart);
  $("train").addEventListener("click", train);
  for (const radio of document.querySelectorAll("input[name=model]")) radio.addEventListener("change", load);
  load();
  document.body.dataset.ready = "1";
}

main().catch((e) => { status(String(e && e.message || e)); console.error(e); });
