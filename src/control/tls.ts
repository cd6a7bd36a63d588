import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { ServerOptions as HttpsServerOptions } from "node:https";
import { createSecureContext, type Server as TlsServer, type SecureVersion } from "node:tls";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";

export interface TlsSettings {
  /** PEM certificate (chain) file. */
  certFile: string;
  /** PEM private key file. */
  keyFile: string;
  /** Lowest protocol accepted (TLSv1.2 or TLSv1.3: nothing older is ever allowed). */
  minVersion: "TLSv1.2" | "TLSv1.3";
}

/** TLS is on when both files are named; one without the other is a configuration mistake. */
export function tlsSettings(config: { tlsCert: string; tlsKey: string; tlsMinVersion: "TLSv1.2" | "TLSv1.3" }): TlsSettings | undefined {
  if (!config.tlsCert && !config.tlsKey) return undefined;
  if (!config.tlsCert || !config.tlsKey) throw new Error("IFC_TLS_CERT and IFC_TLS_KEY go together: set both (HTTPS) or neither (HTTP)");
  return { certFile: config.tlsCert, keyFile: config.tlsKey, minVersion: config.tlsMinVersion };
}

export interface LoadedCertificate {
  cert: string;
  key: string;
  /** What the logs say about it (never the key). */
  subject: string;
  validTo: string;
  fingerprint256: string;
}

/**
 * Reads and checks a certificate and its key: both parse, the key matches the certificate
 * (createSecureContext refuses a mismatch), and the certificate has not expired. Throws otherwise,
 * so a bad file is refused before it replaces a working one.
 */
export async function loadCertificate(s: TlsSettings, now: () => number = Date.now): Promise<LoadedCertificate> {
  const [cert, key] = await Promise.all([readFile(s.certFile, "utf8"), readFile(s.keyFile, "utf8")]);
  createSecureContext({ cert, key, minVersion: s.minVersion });
  const x = new X509Certificate(cert);
  if (Date.parse(x.validTo) <= now()) throw new Error(`certificate ${s.certFile} expired on ${x.validTo}`);
  return { cert, key, subject: x.subject, validTo: x.validTo, fingerprint256: x.fingerprint256 };
}

/** Options for the HTTPS server (Fastify's `https`): TLS ≥ minVersion, the loaded pair. */
export function httpsOptions(s: TlsSettings, c: LoadedCertificate): HttpsServerOptions {
  return { cert: c.cert, key: c.key, minVersion: s.minVersion as SecureVersion };
}

/**
 * `Strict-Transport-Security` on every response (errors and 404s too: onSend sees them all), so
 * a browser that once reached the server over HTTPS never falls back to HTTP. 0 sends none.
 * A root hook: install before the routes are registered.
 */
export function installHsts(app: FastifyInstance, maxAgeS: number): void {
  if (maxAgeS <= 0) return;
  const value = `max-age=${maxAgeS}`;
  app.addHook("onSend", async (_req, reply, payload) => {
    reply.header("strict-transport-security", value);
    return payload;
  });
}

/**
 * The SIGHUP action: reads the files again and swaps the server's secure context. Connections
 * already open keep the context they were made with (media sessions ride on UDP anyway, and a
 * WHIP/WHEP resource needs no long-lived HTTP connection), new handshakes get the new
 * certificate. A file that does not load is logged and the old certificate kept.
 * Resolves true when the certificate was replaced.
 */
export function tlsReloader(server: TlsServer, s: TlsSettings, log: Logger): () => Promise<boolean> {
  let loading: Promise<boolean> | undefined;
  const reload = async (): Promise<boolean> => {
    try {
      const c = await loadCertificate(s);
      server.setSecureContext({ cert: c.cert, key: c.key, minVersion: s.minVersion });
      log.info({ certFile: s.certFile, subject: c.subject, validTo: c.validTo, fingerprint256: c.fingerprint256 }, "TLS certificate reloaded");
      return true;
    } catch (err) {
      log.error({ certFile: s.certFile, keyFile: s.keyFile, err: (err as Error).message }, "TLS certificate reload failed; the previous certificate stays in use");
      return false;
    }
  };
  // Two signals in a row share one reload rather than racing two.
  return () => (loading ??= reload().finally(() => (loading = undefined)));
}
