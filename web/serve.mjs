// serve.mjs DIR [PORT] -- serve the built playground (make serve) on 127.0.0.1 only, and print
// its address. Also used by the browser test (web/test/run.mjs) through startServer.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
  ".wasm": "application/wasm", ".png": "image/png", ".svg": "image/svg+xml" };

// Serve the files of dir on 127.0.0.1:port (0: any free port); resolves to the server.
export function startServer(dir, port = 0) {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    const file = join(dir, path.endsWith("/") ? path + "index.html" : path);
    try {
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] || "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2] || "build/web", port = Number(process.argv[3] || 8080);
  const server = await startServer(dir, port);
  console.log(`serving ${dir} at http://127.0.0.1:${server.address().port}/ (Ctrl-C stops it)`);
}
