// wasi.js -- load the library's WebAssembly build (backprop.wasm, from web/playground.c and the
// library's own sources) with the few WASI calls it imports, and wrap its exports for the page.
// No arithmetic of the model happens here: every number comes from the C side as text.

const ERRNO_BADF = 8, ERRNO_NOSYS = 52;

// The WASI imports the module names: standard output and error go to the console; there are no
// files, no environment variables (so the library uses its defaults) and no exit.
function wasiImports(getMemory, log) {
  const view = () => new DataView(getMemory().buffer);
  const decoder = new TextDecoder();
  const pending = { 1: "", 2: "" };
  return {
    fd_write(fd, iovs, iovsLength, writtenPtr) {
      const v = view();
      let written = 0;
      for (let i = 0; i < iovsLength; i++) {
        const ptr = v.getUint32(iovs + 8 * i, true), len = v.getUint32(iovs + 8 * i + 4, true);
        if (fd === 1 || fd === 2) {
          pending[fd] += decoder.decode(new Uint8Array(getMemory().buffer, ptr, len));
          let nl;
          while ((nl = pending[fd].indexOf("\n")) >= 0) {
            log(fd, pending[fd].slice(0, nl));
            pending[fd] = pending[fd].slice(nl + 1);
          }
        }
        written += len;
      }
      v.setUint32(writtenPtr, written, true);
      return fd === 1 || fd === 2 ? 0 : ERRNO_BADF;
    },
    environ_sizes_get(countPtr, sizePtr) {
      view().setUint32(countPtr, 0, true);
      view().setUint32(sizePtr, 0, true);
      return 0;
    },
    environ_get() { return 0; },
    fd_close() { return ERRNO_BADF; },
    fd_seek() { return ERRNO_BADF; },
    proc_exit(code) { throw new Error(`the library exited with code ${code}`); },
  };
}

// Instantiate backprop.wasm and return the calls of web/playground.h, with text answers read
// out of the module's memory.
export async function loadBackprop(url, log = (fd, line) => (fd === 2 ? console.warn : console.log)(line)) {
  let memory = null;
  const wasi = wasiImports(() => memory, log);
  const response = await fetch(url);
  const bytes = await response.arrayBuffer();
  const module = await WebAssembly.compile(bytes);
  const imports = { wasi_snapshot_preview1: {} };
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.module !== "wasi_snapshot_preview1") throw new Error(`unexpected import ${imp.module}.${imp.name}`);
    imports.wasi_snapshot_preview1[imp.name] = wasi[imp.name] || (() => ERRNO_NOSYS);
  }
  const instance = await WebAssembly.instantiate(module, imports);
  const x = instance.exports;
  memory = x.memory;
  x._initialize();

  const decoder = new TextDecoder(), encoder = new TextEncoder();
  const text = () => decoder.decode(new Uint8Array(memory.buffer, x.pg_text(), x.pg_text_length()));
  // Every call: its number, and its text (the answer, or the error when the number is < 0).
  const call = (fn, ...args) => {
    const rc = x[fn](...args);
    return { rc, text: text() };
  };
  return {
    bytes: bytes.byteLength,
    setSeed: (seed) => x.pg_set_seed(seed),
    model: (m) => call("pg_model", m),
    expression(source) {
      const bytesIn = encoder.encode(source);
      if (bytesIn.length + 1 > x.pg_input_size()) return { rc: -1, text: "the expression is too long" };
      const buf = new Uint8Array(memory.buffer, x.pg_input(), x.pg_input_size());
      buf.set(bytesIn);
      buf[bytesIn.length] = 0;
      return call("pg_set_expression");
    },
    values: () => call("pg_values"),
    setValue: (i, v) => call("pg_set_value", i, v),
    record: () => call("pg_record"),
    forwardLine: (i) => call("pg_forward_line", i),
    backward: (steps) => call("pg_backward", steps),
    forwardDot: () => call("pg_forward_dot"),
    backwardDot: (steps) => call("pg_backward_dot", steps),
    setRule: (eps, alpha) => call("pg_set_rule", eps, alpha),
    train: (sweeps) => call("pg_train", sweeps),
    error: () => call("pg_error"),
    weights: () => call("pg_weights"),
    outputs: () => call("pg_outputs"),
  };
}
