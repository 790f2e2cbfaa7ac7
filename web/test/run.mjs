// run.mjs DIR -- the playground in a real browser (make test-web): headless Chromium (Debian's,
// $CHROMIUM) driven by puppeteer-core loads DIR/index.html from a local server, clicks through
// the forward pass and the reverse sweep node by node, trains, and checks every number the page
// shows against the native build of the same C (DIR/playground_cli, run with the plain-C
// kernels: BACKPROP_ISA=generic), that the graph has the tape's nodes, and that nothing was
// logged as an error. Saves DIR/playground.png. Exits 1 on the first difference.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { createRequire } from "node:module";
import { startServer } from "../serve.mjs";

const require = createRequire(import.meta.url);
const puppeteer = require("puppeteer-core");
const dir = process.argv[2] || "build/web";
const cli = join(dir, "playground_cli");
const native = (...args) =>
  execFileSync(cli, args, { encoding: "utf8", env: { ...process.env, BACKPROP_ISA: "generic" } });

let failures = 0;
function expectEqual(what, got, want) {
  if (got === want) return;
  failures++;
  console.error(`FAIL ${what}\n  the page:   ${JSON.stringify(got)}\n  the native: ${JSON.stringify(want)}`);
}
function expect(what, ok) {
  if (!ok) { failures++; console.error(`FAIL ${what}`); }
}

const server = await startServer(dir, 0);
const url = `http://127.0.0.1:${server.address().port}/`;
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const errors = [];
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1300, height: 1000 });
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()}`));
  await page.goto(url);
  await page.waitForSelector("body[data-ready='1']", { timeout: 30000 });

  const narration = () => page.$eval("#narration", (e) => e.textContent.trim());
  const nodeTitles = () => page.$$eval("#graph g.node title", (ts) => ts.map((t) => t.textContent).sort());
  const nodeText = (id) => page.$$eval("#graph g.node", (gs, id) => {
    const g = gs.find((x) => x.querySelector("title").textContent === id);
    return g ? [...g.querySelectorAll("text")].map((t) => t.textContent).join(" ") : null;
  }, id);
  const dotIds = (dot) => [...dot.matchAll(/^ {2}([nl]\d+) \[/gm)].map((m) => m[1]).sort();
  const load = async (model, expression) => {
    if (expression !== undefined) await page.$eval("#expression", (e, v) => { e.value = v; }, expression);
    await page.click(`input[name=model][value='${model}']`);
    await page.click("#load");
  };

  // 1. The neuron: every forward step, every backward step, against the native lines.
  await load(0);
  const fwd = native("neuron", "--forward").trim().split("\n");
  for (let k = 0; k < fwd.length; k++) {
    await page.click("#forward-step");
    expectEqual(`neuron, forward step ${k + 1}`, await narration(), fwd.slice(0, k + 1).join("\n"));
  }
  expectEqual("neuron: the graph's boxes", JSON.stringify(await nodeTitles()),
              JSON.stringify(dotIds(native("neuron", "--dot"))));
  for (let k = 0; k < fwd.length; k++) {
    const value = fwd[k].split(" = ").pop();
    const text = await nodeText(`n${k}`);
    expect(`neuron: box n${k} shows value ${value} (it shows: ${text})`, text && text.includes(`value ${value}`));
  }
  const sweepSteps = fwd.length;
  for (let k = 1; k <= sweepSteps; k++) {
    await page.click("#backward-step");
    expectEqual(`neuron, backward step ${k}`, await narration(), native("neuron", "--backward", String(k)).trim());
  }
  const w1 = await nodeText("l0");
  expect(`neuron: w1's box shows its gradient -0.08872 (it shows: ${w1})`, w1 && w1.includes("grad -0.08872"));

  // 2. XOR 2-2-1: the steps, then 500 sweeps, bit for bit.
  await load(1);
  const xf = native("xor", "--forward").trim().split("\n");
  for (let k = 0; k < xf.length; k++) await page.click("#forward-step");
  expectEqual("xor, the whole forward pass", await narration(), xf.join("\n"));
  expectEqual("xor: the graph's boxes", JSON.stringify(await nodeTitles()), JSON.stringify(dotIds(native("xor", "--dot"))));
  for (let k = 1; k <= 3; k++) await page.click("#backward-step");
  expectEqual("xor, backward step 3", await narration(), native("xor", "--backward", "3").trim());
  await page.click("#backward-all");
  expectEqual("xor, the whole sweep", await narration(), native("xor", "--backward", "-1").trim());
  await page.$eval("#sweeps", (e) => { e.value = "500"; });
  await page.click("#train");
  await page.waitForSelector("body[data-trained='500']", { timeout: 120000 });
  const pageE = await page.$eval("#error-value", (e) => e.textContent);
  const pageHex = await page.$eval("#error-hex", (e) => e.textContent);
  const sweeps = await page.$eval("#sweeps-done", (e) => e.textContent);
  const [, nativeE, nativeHex] = /: (\S+) (\S+)/.exec(native("xor", "--train", "500"));
  console.log(`XOR, seed 1, after 500 sweeps: the page E = ${pageE} (${pageHex}), the native plain-C build E = ${nativeE} (${nativeHex})`);
  expectEqual("xor: sweeps done", sweeps, "500");
  expectEqual("xor: E after 500 sweeps", pageE, nativeE);
  expectEqual("xor: E's bits after 500 sweeps", pageHex, nativeHex);
  await page.click("#backward-step");
  await page.screenshot({ path: join(dir, "playground.png"), fullPage: true });

  // 3. XOR with no hidden unit: 500 sweeps as the native ones, and still not all right.
  await load(4);
  await page.$eval("#sweeps", (e) => { e.value = "500"; });
  await page.click("#train");
  await page.waitForSelector("body[data-trained='500']", { timeout: 120000 });
  const [, percE] = /: (\S+) /.exec(native("perceptron", "--train", "500"));
  expectEqual("perceptron: E after 500 sweeps", await page.$eval("#error-value", (e) => e.textContent), percE);
  expect("perceptron: not every case right", (await page.$eval("#right", (e) => e.textContent)) !== "4/4");

  // 4. Symmetry 6-2-1: 50 sweeps, the Hinton diagram has every weight.
  await load(2);
  await page.$eval("#sweeps", (e) => { e.value = "50"; });
  await page.click("#train");
  await page.waitForSelector("body[data-trained='50']", { timeout: 120000 });
  const [, symE] = /: (\S+) /.exec(native("symmetry", "--train", "50"));
  expectEqual("symmetry: E after 50 sweeps", await page.$eval("#error-value", (e) => e.textContent), symE);
  expectEqual("symmetry: weights in the Hinton diagram", await page.$$eval("#hinton rect title", (t) => t.length), 17);

  // 5. A typed expression, parsed in C: its whole sweep.
  const expr = "tanh(a*x + b) * c - x^2";
  await load(3, expr);
  await page.click("#backward-all");
  expectEqual("expression: the whole sweep", await narration(), native("expr", "--expr", expr, "--backward", "-1").trim());
  await load(3, "sigmoid(w1*x1 +");
  expect("expression: a syntax error is shown", (await page.$eval("#status", (e) => e.textContent)).includes("expected"));
  errors.splice(0, errors.length, ...errors.filter((e) => !e.includes("model: expected"))); // the one just caused
} finally {
  await browser.close();
  server.close();
}
for (const e of errors) console.error(`FAIL the page logged an error: ${e}`);
failures += errors.length;
if (failures) {
  console.error(`test-web: ${failures} failure(s)`);
  process.exit(1);
}
console.log(`test-web: the page agrees with the native build, no console error; screenshot ${join(dir, "playground.png")}`);
