// Type only: /metrics carries these at start, gRPC (~13 MiB resident) loads only when enabled.
import type { status } from "@grpc/grpc-js";
import { Counter, Histogram, Registry } from "prom-client";

export interface GrpcMetrics {
  /** Merged into `/metrics` by the control plane. */
  registry: Registry;
  /** One finished call: its method (`ListStreams`) and final status code. */
  observe(method: string, code: status, seconds: number): void;
}

/** gRPC's status codes by number (fixed by the gRPC spec, doc/statuscodes.md). */
const CODE_NAMES = [
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
] as const;

/** The status code's name, as other gRPC servers label it (`OK`, `PERMISSION_DENIED`). */
export function codeName(code: status): string {
  return CODE_NAMES[code] ?? String(code);
}

/** gRPC control metrics (`ifc_grpc_` prefix) in their own registry. */
export function grpcMetrics(): GrpcMetrics {
  const registry = new Registry();
  const calls = new Counter({ name: "ifc_grpc_calls_total", help: "gRPC control calls finished, by method and status code", labelNames: ["method", "code"], registers: [registry] });
  const duration = new Histogram({
    name: "ifc_grpc_call_duration_seconds",
    help: "gRPC control call duration (server-streaming calls: until the stream ends)",
    labelNames: ["method"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60, 600],
    registers: [registry],
  });
  return {
    registry,
    observe(method, code, seconds) {
      calls.inc({ method, code: codeName(code) });
      duration.observe({ method }, seconds);
    },
  };
}
