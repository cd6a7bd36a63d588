import { readFile } from "node:fs/promises";
import { createSecureContext, type SecureContextOptions, type SecureVersion } from "node:tls";
import { ServerCredentials } from "@grpc/grpc-js";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** IFC_TLS_MIN_VERSION; Node's own default minimum is TLSv1.2 as well. */
  minVersion: SecureVersion;
}

async function contextOptions(files: TlsFiles): Promise<SecureContextOptions> {
  const [cert, key] = await Promise.all([readFile(files.certFile), readFile(files.keyFile)]);
  const options: SecureContextOptions = { cert, key, minVersion: files.minVersion };
  // Fails here (mismatched key, bad PEM) rather than in grpc-js, which would stop accepting
  // connections with a context it cannot set.
  createSecureContext(options);
  return options;
}

/**
 * Server TLS credentials whose certificate can be swapped while the server runs (SIGHUP after a
 * renewal): the same mechanism grpc-js 1.14 uses for its certificate providers
 * (`createCertificateProviderServerCredentials`): the server watches its credentials and calls
 * `setSecureContext` on its HTTP/2 server, so new handshakes use the new certificate and open
 * connections and calls carry on. `createSsl` has no such hook; this is its reloadable twin
 * (no client certificates), with `minVersion` on the server and on every context.
 */
export class ReloadableTlsCredentials extends ServerCredentials {
  private constructor(
    private readonly files: TlsFiles,
    initial: SecureContextOptions,
  ) {
    super({ minVersion: files.minVersion }, initial);
  }

  static async load(files: TlsFiles): Promise<ReloadableTlsCredentials> {
    return new ReloadableTlsCredentials(files, await contextOptions(files));
  }

  /** Reads the files again; on an error the current certificate stays in use and the error is thrown. */
  async reload(): Promise<void> {
    this.updateSecureContextOptions(await contextOptions(this.files));
  }

  _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}
