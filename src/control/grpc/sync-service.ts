import { status, type ServerWritableStream } from "@grpc/grpc-js";
import { SyncServiceService, type MasterDataChunk, type SyncRequest } from "../../generated/imageflow/v1/sync.js";
import type { DeviceStore } from "../../inspection/sync/device-store.js";
import type { SyncStore } from "../../inspection/sync/sync-store.js";
import { deviceIdOf } from "../auth/device-principal.js";
import type { CallContext } from "./call-guard.js";
import type { GrpcServiceRegistration } from "./grpc-control-server.js";
import { GrpcError } from "./grpc-errors.js";

export interface SyncServiceDeps {
  sync: SyncStore;
  devices: DeviceStore;
  /** IFC_SYNC_MAX_CHANGES: rows per products page and per chunk. */
  pageSize: number;
}

/** Waits for the client to take what was written (grpc-js buffers without bound otherwise). */
function write(call: ServerWritableStream<SyncRequest, MasterDataChunk>, chunk: MasterDataChunk): Promise<void> {
  if (call.write(chunk)) return Promise.resolve();
  return new Promise((resolve) => call.once("drain", resolve));
}

/**
 * SyncService.GetMasterData: the same rows as REST's /inspection/sync/download (or /changes with
 * last_sync_timestamp) as a server stream of chunks, each at most pageSize rows, read page by page
 * so 100 000 products never sit in memory at once.
 */
export function syncService(deps: SyncServiceDeps): GrpcServiceRegistration {
  const { sync, devices, pageSize } = deps;
  return {
    definition: SyncServiceService,
    implementation: (guard) => ({
      getMasterData: guard.serverStream<SyncRequest, MasterDataChunk>("GetMasterData", { permission: "inspection:view" }, async (req, ctx, call) => {
        await refuseRevoked(ctx, devices);
        let cancelled = false;
        call.on("cancelled", () => (cancelled = true));
        const chunk = (kind: string, rows: unknown[], serverTime: string, total: number, last: boolean): MasterDataChunk =>
          ({ kind, rowsJson: rows.map((r) => JSON.stringify(r)), serverTime, totalProducts: total, last });
        if (req.lastSyncTimestamp) {
          let page = await sync.changes({ since: req.lastSyncTimestamp, limit: pageSize });
          for (;;) {
            if (cancelled) return;
            await write(call, chunk("changes", page.items, page.server_time, 0, page.next_cursor === null));
            if (page.next_cursor === null) break;
            page = await sync.changes({ cursor: page.next_cursor, limit: pageSize });
          }
          call.end();
          return;
        }
        let page = await sync.download({ pageSize });
        const masters = page.masters ?? {};
        for (const [entity, kind] of [["inspection_target", "inspection_targets"], ["inspection_item", "inspection_items"], ["inspection_rule", "inspection_rules"], ["quality_standard", "quality_standards"]] as const) {
          const rows = masters[entity] ?? [];
          // Whole tables still travel in chunks of pageSize rows (messages stay small).
          for (let i = 0; i === 0 || i < rows.length; i += pageSize) {
            if (cancelled) return;
            await write(call, chunk(kind, rows.slice(i, i + pageSize), page.server_time, page.total_products, false));
          }
        }
        for (;;) {
          if (cancelled) return;
          await write(call, chunk("products", page.products, page.server_time, page.total_products, page.next_cursor === null));
          if (page.next_cursor === null) break;
          page = await sync.download({ pageSize, cursor: page.next_cursor });
        }
        call.end();
      }),
    }),
  };
}

async function refuseRevoked(ctx: CallContext, devices: DeviceStore): Promise<void> {
  if (ctx.principal?.kind !== "device") return;
  const id = deviceIdOf(ctx.principal.subject);
  if (id === undefined || !(await devices.isActive(id))) throw new GrpcError(status.UNAUTHENTICATED, "the device is revoked", { "problem-type": "urn:imageflowcanvas:problem:unauthorized" });
}
