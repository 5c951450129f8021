// Runs the client side of sigil.mpc under Pyodide in Node.js, offline from node_modules/pyodide.
//
// Usage: node run_client.mjs [path/to/src/sigil]
// Copies src/sigil/mpc/*.py and proofs/*.py (not transport.py / ethereum.py, which are CPython only) into
// Pyodide's file system under a minimal sigil/__init__.py, forces the pure-Python arithmetic backend, then
// answers JSON lines on stdin with JSON lines on stdout (tests/pyodide/client_driver.py). The first line
// written is {"ready": true, "load_ms": ...}. Python's own prints go to stderr, never into the protocol.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { loadPyodide } from "pyodide";

const here = path.dirname(fileURLToPath(import.meta.url));
const src = path.resolve(process.argv[2] ?? path.join(here, "..", "..", "src", "sigil"));
const CPYTHON_ONLY = new Set(["transport.py", "ethereum.py"]);

const started = performance.now();
const pyodide = await loadPyodide({
  stdout: (s) => process.stderr.write(`[pyodide] ${s}\n`),
  stderr: (s) => process.stderr.write(`[pyodide] ${s}\n`),
});
const loadMs = performance.now() - started;

const root = "/sigil_src";
pyodide.FS.mkdirTree(`${root}/sigil/mpc/proofs`);
pyodide.FS.writeFile(`${root}/sigil/__init__.py`, '"""Only sigil.mpc is loaded under Pyodide."""\n');
for (const sub of ["mpc", path.join("mpc", "proofs")]) {
  for (const name of readdirSync(path.join(src, sub))) {
    if (name.endsWith(".py") && !CPYTHON_ONLY.has(name)) {
      pyodide.FS.writeFile(`${root}/sigil/${sub}/${name}`, readFileSync(path.join(src, sub, name)));
    }
  }
}
pyodide.FS.writeFile(`${root}/client_driver.py`, readFileSync(path.join(here, "client_driver.py")));

const importStarted = performance.now();
pyodide.runPython(`
import os, sys
os.environ["SIGIL_MPC_BACKEND"] = "python"
sys.path.insert(0, "${root}")
import client_driver
`);
const handle = pyodide.pyimport("client_driver").handle;
const importMs = performance.now() - importStarted;

process.stdout.write(JSON.stringify({ ready: true, load_ms: Math.round(loadMs), import_ms: Math.round(importMs) }) + "\n");
const lines = createInterface({ input: process.stdin, terminal: false });
for await (const line of lines) {
  if (line.trim()) {
    process.stdout.write(handle(line) + "\n");
  }
}
