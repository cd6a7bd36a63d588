import { credentials, makeGenericClientConstructor, status as GrpcStatus, type Channel, type ClientUnaryCall, type ServiceError } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import type { Timers } from "../core/timers.js";

/** UNKNOWN: not checked yet, or the service said so; UNREACHABLE: no answer (refused, timeout). */
export type InstanceHealth = "SERVING" | "NOT_SERVING" | "UNKNOWN" | "UNREACHABLE";

export interface HealthResult {
  status: InstanceHealth;
  error?: string;
}

interface HealthClient {
  check(req: { service: string }, cb: (err: ServiceError | null, res?: { status?: string | number }) => void): ClientUnaryCall;
}

// grpc-health-check ships the proto-loader definition of grpc.health.v1 but no typed client, so a
// generic client is built from it; the two messages are tiny, and only `status` is read.
const HealthClientCtor = makeGenericClientConstructor(healthService, "grpc.health.v1.Health") as unknown as new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
  opts: { channelOverride: Channel },
) => HealthClient;

/** proto-loader may give the enum as its name or its number (1 SERVING, 2 NOT_SERVING, 3 SERVICE_UNKNOWN). */
function mapStatus(s: string | number | undefined): InstanceHealth {
  if (s === "SERVING" || s === 1) return "SERVING";
  if (s === "NOT_SERVING" || s === 2) return "NOT_SERVING";
  return "UNKNOWN";
}

/**
 * One grpc.health.v1 Check on a channel, bounded by a timeout on the injected timers (so tests
 * move the clock instead of waiting). A NOT_FOUND answer means the server runs but does not
 * serve that service: NOT_SERVING, not UNREACHABLE.
 */
export function checkHealth(channel: Channel, address: string, service: string, timeoutMs: number, timers: Timers): { result: Promise<HealthResult>; cancel(): void } {
  const client = new HealthClientCtor(address, credentials.createInsecure(), { channelOverride: channel });
  let settle: (r: HealthResult) => void = () => undefined;
  const result = new Promise<HealthResult>((resolve) => (settle = resolve));
  let done = false;
  const finish = (r: HealthResult): void => {
    if (done) return;
    done = true;
    timers.clearTimeout(timer);
    settle(r);
  };
  const call = client.check({ service }, (err, res) => {
    if (!err) return finish({ status: mapStatus(res?.status) });
    if (err.code === GrpcStatus.NOT_FOUND) return finish({ status: "NOT_SERVING", error: `health: ${err.details || "service unknown to the server"}` });
    finish({ status: "UNREACHABLE", error: `health: ${GrpcStatus[err.code] ?? err.code}: ${err.details || err.message}` });
  });
  const timer = timers.setTimeout(() => {
    finish({ status: "UNREACHABLE", error: `health: no answer within ${timeoutMs} ms` });
    call.cancel();
  }, timeoutMs);
  return {
    result,
    cancel: () => {
      finish({ status: "UNKNOWN", error: "health: check cancelled" });
      call.cancel();
    },
  };
}
