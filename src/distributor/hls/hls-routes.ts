import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance, FastifyReply } from "fastify";
import { Type } from "typebox";
import { parseTime } from "../../core/time-param.js";
import { BadRequestError, NotFoundError, ProblemError, ServiceUnavailableError } from "../../errors.js";
import { concatObjects, ObjectNotFoundError, type ObjectStore } from "../../ports/object-store.js";
import { manifestKey, parseManifest, type RecordingManifest } from "../../ports/recording-manifest.js";
import { advancePartLimit, judgeBlockingRequest, judgePart, parseBlockingRequest } from "./blocking-reload.js";
import { ManifestWaiters, type WaitFailure } from "./manifest-waiters.js";
import { parseMediaName, RECORDING_ID } from "./media-names.js";
import type { RouteAuth } from "../../control/auth/principal.js";
import { binary, problems, StreamNameRef, StreamParams } from "../../control/schemas.js";
import { withQueryOnUris } from "./playlist-query.js";
import { hasMedia, partTargetMs, renderLivePlaylist, renderVodPlaylist, type LivePlaylistOptions } from "./playlist.js";

/** What the routes need of the recorder (Recorder implements it). */
export interface HlsManifestSource {
  liveManifest(stream: string): RecordingManifest | undefined;
  onManifestChange(listener: (stream: string, manifest: RecordingManifest) => void): () => void;
}

/** What the VOD route needs of the catalog (RecordingCatalog implements it). */
export interface HlsSpanPlanner {
  plan(stream: string, startMs: number, durationMs: number): Promise<{ manifest: RecordingManifest; seqs: number[] } | undefined>;
}

/** Keeps retention off segments being sent (SegmentLeases implements it). */
export interface HlsLeases {
  acquire(recordingId: string, seqs: readonly number[]): () => void;
}

export interface HlsRoutesOptions {
  recorder: HlsManifestSource;
  catalog: HlsSpanPlanner;
  store: ObjectStore;
  leases?: HlsLeases;
  /** The recorder's segment duration (IFC_SEGMENT_DURATION_MS): floor of EXT-X-TARGETDURATION. */
  segmentDurationMs?: number;
  /** The recorder's part duration (IFC_PART_DURATION_MS): floor of PART-TARGET. */
  partDurationMs?: number;
  /** Longest span of one VOD playlist (IFC_PLAY_MAX_DURATION_MS, as /api/v1/recordings/{stream}/play). */
  playMaxDurationMs?: number;
  /** Complete segments in the live playlist's sliding window. */
  windowSegments?: number;
  /** The last this-many complete segments of the window also list their parts. */
  partSegments?: number;
  /** Longest hold of a blocking playlist reload or preload-hinted part before 503. */
  blockingReloadTimeoutMs?: number;
  /** Most requests held at once per stream (blocking reloads and hinted parts); more get 503. */
  maxBlockedRequests?: number;
  /** A player wants the live stream: an on-demand pulled camera starts (resolves when live or given up). */
  demand?: (stream: string) => Promise<void>;
  /**
   * In a cluster: the base URL of the node that owns `stream` when it is not this one. Its live
   * playlist is redirected there (307), not proxied: the owner holds the parts and the blocking
   * reloads' waiters, and the player then fetches the parts straight from it (relative URIs).
   */
  ownerElsewhere?: (stream: string) => Promise<string | undefined>;
}

/** The tunable numbers, all set. */
export type HlsLimits = Required<Omit<HlsRoutesOptions, "recorder" | "catalog" | "store" | "leases" | "demand" | "ownerElsewhere">>;

export const HLS_DEFAULTS: Readonly<HlsLimits> = {
  segmentDurationMs: 4000,
  partDurationMs: 1000,
  playMaxDurationMs: 3_600_000,
  windowSegments: 6,
  partSegments: 2,
  // The spec's bound is three target durations; 6 s also stays far below the app's 30 s request timeout.
  blockingReloadTimeoutMs: 6000,
  maxBlockedRequests: 100,
};

const PLAYLIST_TYPE = "application/vnd.apple.mpegurl";
const IMMUTABLE = "public, max-age=31536000, immutable";
/** Stored manifests of ended recordings kept parsed (VOD viewers fetch many segments of few recordings). */
const STORED_MANIFEST_CACHE = 64;

const Token = Type.Optional(Type.String({ maxLength: 4096, description: "A view token; the playlist's URIs then carry it too" }));
const HLS_NUMBER = Type.Optional(Type.String({ maxLength: 16 }));
const viewing = (permission: RouteAuth["permission"]): RouteAuth => ({ permission, stream: { in: "params", name: "stream" }, viewToken: true });
const tags = ["hls"];

/** The playlist as sent: with `?token=` on the request, every URI in it carries the same token. */
function tokenized(playlist: string, token: string | undefined): string {
  return token ? withQueryOnUris(playlist, "token", token) : playlist;
}

/**
 * HLS and Low-Latency HLS from the recorder's own parts and segments (remux once):
 * `GET /hls/{stream}/index.m3u8` (live, blocking reload with `_HLS_msn`/`_HLS_part`),
 * `GET /hls/{stream}/vod.m3u8?start=&duration=` (a recorded span) and
 * `GET /hls/{stream}/{recordingId}/{init-N.mp4 | SSSSSS.m4s | SSSSSS-PP.m4s}` (media).
 */
export async function hlsRoutes(fastify: FastifyInstance, options: HlsRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { recorder, catalog, store, leases, demand, ownerElsewhere, ...given } = options;
  const opts: HlsLimits = { ...HLS_DEFAULTS, ...definedOnly(given) };
  checkOptions(opts);
  const live: LivePlaylistOptions = {
    windowSegments: opts.windowSegments,
    partSegments: opts.partSegments,
    segmentTargetMs: opts.segmentDurationMs,
    partTargetMs: opts.partDurationMs,
  };
  const partLimit = advancePartLimit(opts.partDurationMs);
  const waiters = new ManifestWaiters(opts.maxBlockedRequests);
  const unsubscribe = recorder.onManifestChange((stream, m) => waiters.notify(stream, m));
  // Held requests answer 503 at shutdown rather than keep the server from closing.
  app.addHook("preClose", (done) => {
    waiters.close();
    done();
  });
  app.addHook("onClose", (_app, done) => {
    unsubscribe();
    done();
  });

  /** Holds the request until `until` holds for the live recording's manifest; throws the matching problem otherwise. */
  const hold = async (stream: string, reply: FastifyReply, until: (m: RecordingManifest) => boolean): Promise<RecordingManifest> => {
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    reply.raw.once("close", onClose);
    try {
      const result = await waiters.wait(stream, until, opts.blockingReloadTimeoutMs, abort.signal);
      if (typeof result !== "string") return result;
      throw holdFailure(result, stream, opts);
    } finally {
      reply.raw.off("close", onClose);
    }
  };

  app.get(
    "/hls/:stream/index.m3u8",
    {
      config: { auth: viewing("stream:view") },
      schema: {
        tags, summary: "Live LL-HLS playlist (blocking reload with _HLS_msn/_HLS_part)",
        params: StreamParams,
        // Other query parameters are let through: players and CDNs add cache busters.
        querystring: Type.Object({ _HLS_msn: HLS_NUMBER, _HLS_part: HLS_NUMBER, _HLS_skip: HLS_NUMBER, token: Token }),
        response: { 200: binary("The media playlist", PLAYLIST_TYPE), ...problems(400, 404, 503) },
      },
    },
    async (req, reply) => {
      const { stream } = req.params;
      const blocking = parseBlockingRequest(req.query);
      await demand?.(stream);
      let m = recorder.liveManifest(stream);
      if (!m) {
        const owner = await ownerElsewhere?.(stream);
        if (owner) return (reply as FastifyReply).code(307).header("location", `${owner}${req.url}`).send();
        throw new NotFoundError(`stream "${stream}" is not live or not being recorded`, "stream-not-found");
      }
      if (!hasMedia(m)) throw new NotFoundError(`stream "${stream}" has recorded nothing yet`, "playlist-not-ready");
      if (blocking) {
        const verdict = judgeBlockingRequest(m, blocking, partLimit);
        if (verdict === "too-far") {
          throw new BadRequestError(
            `_HLS_msn=${blocking.msn}${blocking.part !== undefined ? ` _HLS_part=${blocking.part}` : ""} is too far ahead of the playlist to arrive in time`,
            "blocking-request-too-far",
          );
        }
        if (verdict === "wait") {
          const recordingId = m.recordingId;
          m = await hold(stream, reply, (x) => x.recordingId !== recordingId || judgeBlockingRequest(x, blocking, partLimit) !== "wait");
          if (!hasMedia(m)) throw new NotFoundError(`stream "${stream}" has recorded nothing yet`, "playlist-not-ready");
        }
      }
      // A blocking answer names a fixed point of the stream that every later playlist contains:
      // caches may share it briefly. A plain reload must always reach us.
      const cache = blocking ? `public, max-age=${Math.ceil((6 * partTargetMs(m, live)) / 1000)}` : "no-cache";
      return reply.header("content-type", PLAYLIST_TYPE).header("cache-control", cache).send(tokenized(renderLivePlaylist(m, live), req.query.token));
    },
  );

  app.get(
    "/hls/:stream/vod.m3u8",
    {
      config: { auth: viewing("recording:view") },
      schema: {
        tags, summary: "VOD playlist of a recorded span",
        params: StreamParams,
        querystring: Type.Object({
          start: Type.String({ maxLength: 64, description: "ISO 8601 time or epoch ms" }),
          duration: Type.Number({ exclusiveMinimum: 0, description: "seconds" }),
          token: Token,
        }),
        response: { 200: binary("The media playlist", PLAYLIST_TYPE), ...problems(400, 404) },
      },
    },
    async (req, reply) => {
      const { stream } = req.params;
      const startMs = parseTime(req.query.start, "start");
      const durationMs = req.query.duration * 1000;
      if (durationMs > opts.playMaxDurationMs) {
        throw new BadRequestError(`duration exceeds the limit of ${opts.playMaxDurationMs / 1000} s (IFC_PLAY_MAX_DURATION_MS)`, "duration-too-long");
      }
      const plan = await catalog.plan(stream, startMs, durationMs);
      const ended = plan !== undefined && plan.manifest.endedAt !== null;
      // Only segments that will not change: an open segment of a live recording is left out.
      const segments = plan ? plan.manifest.segments.filter((s) => plan.seqs.includes(s.seq) && (s.complete || ended)) : [];
      if (!plan || segments.length === 0) throw new NotFoundError(`no recorded segment of "${stream}" covers that span`, "recording-not-found");
      return reply
        .header("content-type", PLAYLIST_TYPE)
        // A span of a live recording may still gain its last segment; an ended one is fixed.
        .header("cache-control", ended ? "public, max-age=3600" : "no-cache")
        .send(tokenized(renderVodPlaylist(plan.manifest, segments), req.query.token));
    },
  );

  const storedManifests = new Map<string, { modifiedMs: number; manifest: RecordingManifest }>();
  const manifestOf = async (stream: string, recordingId: string): Promise<RecordingManifest | undefined> => {
    const current = recorder.liveManifest(stream);
    if (current?.recordingId === recordingId) return current;
    const key = manifestKey(stream, recordingId);
    const info = await store.stat(key);
    if (!info) return undefined;
    const cached = storedManifests.get(key);
    if (cached && cached.modifiedMs === info.modifiedMs) return cached.manifest;
    let manifest: RecordingManifest;
    try {
      manifest = parseManifest(await store.get(key));
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      throw err;
    }
    storedManifests.delete(key);
    storedManifests.set(key, { modifiedMs: info.modifiedMs, manifest });
    if (storedManifests.size > STORED_MANIFEST_CACHE) storedManifests.delete(storedManifests.keys().next().value as string);
    return manifest;
  };

  app.get(
    "/hls/:stream/:recording/:file",
    {
      config: { auth: viewing("stream:view") },
      schema: {
        tags, summary: "HLS media: init-N.mp4, SSSSSS.m4s (segment) or SSSSSS-PP.m4s (part)",
        // recording and file are checked by the handler (400 invalid-media-name), as clients know.
        params: Type.Object({ stream: StreamNameRef, recording: Type.String({ maxLength: 100 }), file: Type.String({ maxLength: 100 }) }),
        querystring: Type.Object({ token: Token }),
        response: { 200: binary("fMP4 init segment, media segment or part", "video/mp4", "video/iso.segment"), ...problems(400, 404, 503) },
      },
    },
    async (req, reply) => {
      const { stream, recording, file } = req.params;
      const name = parseMediaName(file);
      if (!RECORDING_ID.test(recording) || !name) {
        throw new BadRequestError("media names are {recordingId}/init-N.mp4, {recordingId}/SSSSSS.m4s or {recordingId}/SSSSSS-PP.m4s", "invalid-media-name");
      }
      let m = await manifestOf(stream, recording);
      if (!m) throw new NotFoundError(`no recording ${recording} of "${stream}"`, "recording-not-found");
      const notFound = (): NotFoundError => new NotFoundError(`${recording}/${file} is not in the recording`, "media-not-found");

      if (name.kind === "init") {
        const init = m.inits.find((i) => i.index === name.index);
        if (!init) throw notFound();
        let data: Buffer;
        try {
          data = await store.get(init.key);
        } catch (err) {
          if (err instanceof ObjectNotFoundError) throw notFound();
          throw err;
        }
        return reply.header("content-type", "video/mp4").header("cache-control", IMMUTABLE).header("content-length", String(data.length)).send(data);
      }

      if (name.kind === "segment") {
        const seg = m.segments.find((s) => s.seq === name.seq);
        // A segment URI is listed once complete; before that only its parts are.
        if (!seg || !seg.complete) throw notFound();
        return sendObjects(reply, recording, seg.seq, seg.parts.map((p) => p.key), seg.parts.reduce((n, p) => n + p.bytes, 0));
      }

      let verdict = judgePart(m, name.seq, name.part, partLimit);
      if (verdict.state === "pending") {
        // A preload hint: answer once the recorder has stored the part, or 404 when it cannot come.
        if (recorder.liveManifest(stream)?.recordingId !== recording) throw notFound();
        m = await hold(stream, reply, (x) => x.recordingId !== recording || judgePart(x, name.seq, name.part, partLimit).state !== "pending");
        verdict = m.recordingId === recording ? judgePart(m, name.seq, name.part, partLimit) : { state: "gone" };
      }
      if (verdict.state !== "stored") throw notFound();
      return sendObjects(reply, recording, verdict.segment.seq, [verdict.entry.key], verdict.entry.bytes);
    },
  );

  /** Streams objects one after another (a part, or a segment's parts), its segment leased meanwhile. */
  function sendObjects(reply: FastifyReply, recordingId: string, seq: number, keys: string[], bytes: number): FastifyReply {
    const release = leases?.acquire(recordingId, [seq]) ?? (() => undefined);
    const body = concatObjects(store, keys);
    body.once("close", release);
    return reply.header("content-type", "video/iso.segment").header("cache-control", IMMUTABLE).header("content-length", String(bytes)).send(body);
  }
}

function holdFailure(failure: WaitFailure, stream: string, opts: HlsLimits): Error {
  switch (failure) {
    case "timeout":
      return new ServiceUnavailableError(`nothing new from "${stream}" within ${opts.blockingReloadTimeoutMs} ms`, 1, "blocking-reload-timeout");
    case "full":
      return new ServiceUnavailableError(`"${stream}" already holds ${opts.maxBlockedRequests} blocking requests`, 1, "too-many-blocked-requests");
    case "closed":
      return new ServiceUnavailableError("server is shutting down", 5, "shutting-down");
    case "aborted":
      // Nobody reads this answer; a 4xx keeps a viewer that hung up out of the warning log.
      return new ProblemError(499, "client-closed-request", "Client closed request", "the client went away while its request was held");
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function checkOptions(o: HlsLimits): void {
  const positive = (name: keyof HlsLimits, min: number): void => {
    if (!Number.isInteger(o[name]) || o[name] < min) throw new RangeError(`hlsRoutes: ${name} must be an integer of at least ${min}, got ${o[name]}`);
  };
  positive("segmentDurationMs", 1);
  positive("partDurationMs", 1);
  positive("playMaxDurationMs", 1);
  positive("windowSegments", 1);
  positive("partSegments", 0);
  positive("blockingReloadTimeoutMs", 1);
  positive("maxBlockedRequests", 1);
}
