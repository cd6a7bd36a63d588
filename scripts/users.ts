/**
 * Users and signing keys from the command line, on the same files as the server:
 *   npm run users -- add alice --role operator [--password x]
 *   npm run users -- list | disable alice | enable alice | remove alice | passwd alice | role alice viewer | rotate-key
 * See src/control/auth/users-cli.ts.
 */
import { text } from "node:stream/consumers";
import { runUsersCli } from "../src/control/auth/users-cli.js";

process.exitCode = await runUsersCli(process.argv.slice(2), process.env, {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  stdin: () => text(process.stdin),
});
