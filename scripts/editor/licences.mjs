// Print the licence of every npm package that went into the bundle (from esbuild's metafile).
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const meta = JSON.parse(readFileSync(process.argv[2], "utf8"));
const packages = new Set();
for (const input of Object.keys(meta.inputs)) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (m) packages.add(m[1]);
}
const lines = ["Third-party software bundled in editor.js (built by scripts/build_editor.sh).", ""];
for (const name of [...packages].sort()) {
  const dir = join("node_modules", name);
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  lines.push("=".repeat(78), `${name} ${pkg.version} (${pkg.license})`, "=".repeat(78));
  lines.push(file && existsSync(join(dir, file)) ? readFileSync(join(dir, file), "utf8").trim() : `License: ${pkg.license}`, "");
}
process.stdout.write(lines.join("\n") + "\n");
