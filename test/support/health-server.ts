import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { HealthImplementation, service as healthService, type ServingStatusMap } from "grpc-health-check";
import { CameraStreamServiceService } from "../../src/generated/imageflow/v1/camera_stream.js";
import { HealthCheckResponse_ServingStatus, type HealthCheckRequest, type HealthCheckResponse } from "../../src/generated/imageflow/v1/common.js";

/**
 * A real grpc-js server on 127.0.0.1:0 for registry tests: grpc.health.v1 (HealthImplementation,
 * or one that never answers with `hang`), plus CameraStreamService.HealthCheck as a tiny unary
 * call that records the peer (client address:port) of every call, i.e. which connection it came on.
 */
export interface TestHealthServer {
  address: string;
  health: HealthImplementation;
  /** Peers of CameraStreamService.HealthCheck calls, in order. */
  peers: string[];
  /** Stops at once, dropping connections (a killed instance). */
  kill(): void;
}

export async function startHealthServer(statuses: ServingStatusMap, opts: { hang?: boolean } = {}): Promise<TestHealthServer> {
  const server = new Server();
  const health = new HealthImplementation(statuses);
  if (opts.hang) {
    // Accepts the call and never answers: the registry's own timeout must end it.
    const silent: UntypedServiceImplementation = { check: () => undefined, watch: () => undefined, list: () => undefined };
    server.addService(healthService, silent);
  } else {
    health.addToServer(server);
  }
  const peers: string[] = [];
  server.addService(CameraStreamServiceService, {
    processVideoStream: () => undefined,
    healthCheck: (call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, cb: sendUnaryData<HealthCheckResponse>) => {
      peers.push(call.getPeer());
      cb(null, { status: HealthCheckResponse_ServingStatus.SERVING_STATUS_SERVING });
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { address: `127.0.0.1:${port}`, health, peers, kill: () => server.forceShutdown() };
}
