import { PGlite } from "@electric-sql/pglite";
let t = Date.now();
const a = await PGlite.create(); console.log("memory create", Date.now() - t); t = Date.now();
const dump = await a.dumpDataDir("none"); console.log("dump", Date.now() - t, dump.size); t = Date.now();
const b = await PGlite.create({ loadDataDir: dump }); console.log("load from dump", Date.now() - t); t = Date.now();
const c = await PGlite.create({dataDir: "/tmp/pgl-disk-"+Date.now()}); console.log("disk create", Date.now() - t); t = Date.now();
console.log(typeof (a as any).clone);
if (typeof (a as any).clone === "function") { const d = await (a as any).clone(); console.log("clone", Date.now() - t); }
console.log((await b.query("select 1 as x")).rows);
