import { createServer } from "node:net";

/** A TCP port free on 127.0.0.1 a moment ago (for a child that must be told its port up front). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
