import { readFileSync, writeFileSync } from "node:fs";
import { configTableMarkdown } from "../src/config.js";

// Rewrites the README's configuration table from the one config schema.
const readme = new URL("../README.md", import.meta.url);
const text = readFileSync(readme, "utf8");
const start = "<!-- config-table:start -->";
const end = "<!-- config-table:end -->";
const i = text.indexOf(start);
const j = text.indexOf(end);
if (i < 0 || j < i) throw new Error("README.md lacks the config-table markers");
writeFileSync(readme, `${text.slice(0, i + start.length)}\n${configTableMarkdown()}\n${text.slice(j)}`);
console.log("README.md config table updated");
