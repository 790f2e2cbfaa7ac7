// limits32.mjs WASM -- run web/test/limits32.c, built for wasm32-wasi, under Node's WASI.
import { WASI } from "node:wasi";
import { readFileSync } from "node:fs";

const wasi = new WASI({ version: "preview1", args: ["limits32"], env: {}, returnOnExit: true });
const module = await WebAssembly.compile(readFileSync(process.argv[2]));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
let code;
try {
  code = wasi.start(instance);
} catch (e) {
  console.error(`limits32: the wasm program crashed: ${e.message}`);
  code = 1;
}
process.exit(code);
