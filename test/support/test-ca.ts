import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface TestCertificate {
  /** PEM of the test CA (what a client trusts). */
  ca: string;
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

/**
 * A throwaway CA and a server certificate it signed, for `localhost` and 127.0.0.1/::1, made
 * with the machine's openssl (TLS tests of HTTPS and gRPC). `name` keeps several certificates
 * apart in one directory (a reload test swaps one for another).
 */
export async function makeTestCertificate(dir: string, name = "server"): Promise<TestCertificate> {
  await mkdir(dir, { recursive: true });
  const f = (x: string) => path.join(dir, `${name}-${x}`);
  await run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=ifc test CA ${name}`, "-keyout", f("ca.key"), "-out", f("ca.pem")]);
  await run("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", f("key.pem"), "-out", f("req.csr")]);
  await writeFile(f("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n");
  await run("openssl", ["x509", "-req", "-in", f("req.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial", "-days", "2", "-extfile", f("ext.cnf"), "-out", f("cert.pem")]);
  const [ca, cert, key] = await Promise.all([readFile(f("ca.pem"), "utf8"), readFile(f("cert.pem"), "utf8"), readFile(f("key.pem"), "utf8")]);
  return { ca, cert, key, certFile: f("cert.pem"), keyFile: f("key.pem") };
}
