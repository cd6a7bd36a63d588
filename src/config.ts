/**
 * One typed configuration, defaults that run on a laptop, every key overridable by an
 * `IFC_*` environment variable or by the config file named in `IFC_CONFIG` (YAML or JSON; the
 * environment wins). The README's config table is generated from `CONFIG_SPEC`
 * (`npm run config:table`), and a unit test keeps the two in step.
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { InvalidInput } from "./core/errors.js";
import { STREAM_NAME } from "./core/stream-name.js";
import { parseSourceList, type SourceDeclaration } from "./ingest/source-spec.js";

type Kind = "int" | "string" | "bool" | "list" | "enum" | "map" | "url" | "sources";

interface Spec<T> {
  env: string;
  kind: Kind;
  default: T;
  description: string;
  /** For ints and map values: inclusive bounds. For enums: allowed values. */
  min?: number;
  max?: number;
  values?: readonly string[];
  /** For maps: what each key must match (stream names). */
  keyPattern?: RegExp;
  /** An empty variable sets the empty value instead of counting as unset (lists whose default is not empty). */
  emptyIsValue?: boolean;
}

const int = (env: string, def: number, description: string, min = 0, max = Number.MAX_SAFE_INTEGER): Spec<number> => ({
  env, kind: "int", default: def, description, min, max,
});
const str = (env: string, def: string, description: string): Spec<string> => ({ env, kind: "string", default: def, description });
/** An absolute http(s) base URL, or empty; a trailing slash is dropped so paths can be appended. */
const url = (env: string, description: string): Spec<string> => ({ env, kind: "url", default: "", description });
const bool = (env: string, def: boolean, description: string): Spec<boolean> => ({ env, kind: "bool", default: def, description });
const list = (env: string, def: string[], description: string): Spec<string[]> => ({ env, kind: "list", default: def, description });
/** `stream=int,stream=int`: a map from stream name to an integer in [min, max]. */
const streamIntMap = (env: string, description: string, min = 0, max = Number.MAX_SAFE_INTEGER): Spec<ReadonlyMap<string, number>> => ({
  env, kind: "map", default: new Map<string, number>(), description, min, max, keyPattern: STREAM_NAME,
});
/** Pull sources: a YAML list of objects in the config file, a JSON array in the environment variable. */
const sources = (env: string, description: string): Spec<readonly SourceDeclaration[]> => ({ env, kind: "sources", default: [], description });
const oneOf = <V extends string>(env: string, def: V, values: readonly V[], description: string): Spec<V> => ({
  env, kind: "enum", default: def, values, description,
});

export const CONFIG_SPEC = {
  httpHost: str("IFC_HTTP_HOST", "0.0.0.0", "Address the HTTP server (WHIP, WHEP, HLS, REST, WebSocket) listens on."),
  httpPort: int("IFC_HTTP_PORT", 8080, "Port of the one HTTP server.", 0, 65535),
  publicUrl: url("IFC_PUBLIC_URL", "Absolute http(s) base URL clients reach the server at (e.g. behind a proxy): `Location` headers and the built-in pages' links become absolute on it; empty: relative links."),
  corsOrigins: list("IFC_CORS_ORIGINS", [], "Web origins (`https://app.example.com`) allowed to call the API from a browser (CORS), comma separated; empty: none beyond the server's own origin. `*` is never combined with credentials."),
  logLevel: oneOf("IFC_LOG_LEVEL", "info", ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const, "pino log level."),
  store: oneOf("IFC_STORE", "fs", ["fs", "s3"] as const, "Where recordings go: `fs` (local disk under IFC_DATA_DIR) or `s3` (MinIO or any S3)."),
  dataDir: str("IFC_DATA_DIR", "./data", "Root of the embedded file-system object store."),
  s3Url: str("IFC_S3_URL", "http://127.0.0.1:9000", "S3/MinIO endpoint URL (https:// for TLS)."),
  s3AccessKey: str("IFC_S3_ACCESS_KEY", "minioadmin", "S3 access key."),
  s3SecretKey: str("IFC_S3_SECRET_KEY", "minioadmin", "S3 secret key."),
  s3Bucket: str("IFC_S3_BUCKET", "ifc-recordings", "Bucket for recordings; created when missing."),
  s3Region: str("IFC_S3_REGION", "us-east-1", "S3 region."),
  s3PathStyle: bool("IFC_S3_PATH_STYLE", true, "Path-style requests (MinIO); false for virtual-hosted style."),
  spoolDir: str("IFC_SPOOL_DIR", "./data/spool", "With IFC_STORE=s3: local directory holding objects not uploaded yet (replayed in order, also after a restart)."),
  uploadQueueBytes: int("IFC_UPLOAD_QUEUE_BYTES", 64 * 1024 * 1024, "With IFC_STORE=s3: most bytes waiting for upload in memory; beyond it, and while uploads fail, objects go to the spool.", 0),
  uploadConcurrency: int("IFC_UPLOAD_CONCURRENCY", 4, "With IFC_STORE=s3: uploads in flight at once.", 1, 64),
  uploadMinBackoffMs: int("IFC_UPLOAD_MIN_BACKOFF_MS", 1000, "First retry delay after a failed upload; doubles per failure (±25 % jitter).", 1),
  uploadMaxBackoffMs: int("IFC_UPLOAD_MAX_BACKOFF_MS", 60_000, "Longest retry delay between failed uploads.", 1),
  ffmpegPath: str("IFC_FFMPEG_PATH", "ffmpeg", "ffmpeg executable (readiness check, decoding)."),

  heapGrowthPercent: int("IFC_HEAP_GROWTH_PERCENT", 100, "How far V8 lets the JavaScript heap grow past what the last full garbage collection kept before it collects again, in percent (V8's --heap-growing-percent, set at start-up): 100 lets it double, as Go's default GOGC=100 does for MediaMTX. With V8's own choice (0) the server's heap with live streams sat so close to its limit that a full collection ran every 0.6 s at 8 streams. 0: V8's own heuristics.", 0, 1000),
  maxPublishers: int("IFC_MAX_PUBLISHERS", 64, "Most live publishing sessions at once; more are refused with 503.", 1),
  maxCpuPercent: int("IFC_MAX_CPU_PERCENT", 0, "Admission on measured CPU headroom: while the server's own CPU use (user + system, all its threads, not its ffmpeg children) averaged over the last 2 s is above this percentage of the cores it may use, new WHIP and RTSP publishers and new WHEP viewers are refused with 503 and Retry-After; ICE restarts and reconnects of live streams are never refused. Measured only while a stream is live. 0: off.", 0, 100),
  whipMaxOfferBytes: int("IFC_WHIP_MAX_OFFER_BYTES", 32_768, "Largest SDP offer or trickle fragment accepted (bytes); larger gets 413.", 256),
  whipConnectTimeoutMs: int("IFC_WHIP_CONNECT_TIMEOUT_MS", 15_000, "ICE+DTLS must connect within this time after the answer, or the session ends.", 1000),
  rtpSilenceTimeoutMs: int("IFC_RTP_SILENCE_TIMEOUT_MS", 10_000, "A connected publisher that sends no RTP for this long is disconnected.", 500),
  rtcpSilenceTimeoutMs: int("IFC_RTCP_SILENCE_TIMEOUT_MS", 15_000, "A connected publisher that sends no RTCP (sender reports, receiver reports) for this long counts as gone.", 500),
  iceDisconnectedTimeoutMs: int("IFC_ICE_DISCONNECTED_TIMEOUT_MS", 3000, "ICE `disconnected` for this long (no consent from the peer) counts as gone; ICE `failed` and a DTLS close count at once.", 100),
  reconnectGraceMs: int("IFC_RECONNECT_GRACE_MS", 15_000, "A publisher that is gone leaves its stream `reconnecting` this long: its recording, AI feed and viewers wait for it to come back (ICE restart or a new WHIP POST with the same credentials). 0 ends the stream at once.", 0),
  iceRestartTimeoutMs: int("IFC_ICE_RESTART_TIMEOUT_MS", 10_000, "An ICE restart (WHIP/WHEP PATCH with new credentials) that no peer completes within this time ends the session; the old candidate pair carries media until then.", 1000),
  dtlsStartDelayMs: int("IFC_DTLS_START_DELAY_MS", 40, "The server answers WebRTC offers, so it starts each DTLS handshake: its ClientHello goes this long after ICE connects. Browsers, OBS and ffmpeg take it at once; a werift peer needs some ms to start its DTLS server after its own ICE connects (more on a busy machine), and one that drops it gets it again 500 ms later. 100 or more keeps werift's own 100 ms wait.", 0, 1000),
  rtcRecvBufferBytes: int("IFC_RTC_RECV_BUFFER_BYTES", 4 * 1024 * 1024, "UDP receive buffer requested for each WebRTC socket (keyframe bursts on a busy machine); the kernel caps it at net.core.rmem_max, which is logged. 0 keeps the kernel default.", 0),
  rtpMaxJumpMs: int("IFC_RTP_MAX_JUMP_MS", 2000, "An RTP timestamp jump this much larger than the arrival time elapsed is a discontinuity (publisher restart): the timeline follows the wall clock and the recording starts a new segment. Smaller holes are kept as they are.", 100),
  clockDriftToleranceMs: int("IFC_CLOCK_DRIFT_TOLERANCE_MS", 100, "Most drift allowed between a publisher's RTP clock and the wall clock (from RTCP sender reports, else arrival) before capture times are re-anchored.", 1),
  iceServers: list("IFC_ICE_SERVERS", [], "STUN/TURN URLs used by the server and advertised to clients in Link headers (comma separated)."),
  iceUsername: str("IFC_ICE_USERNAME", "", "Username for TURN servers in IFC_ICE_SERVERS."),
  iceCredential: str("IFC_ICE_CREDENTIAL", "", "Credential for TURN servers in IFC_ICE_SERVERS."),
  rtcPortMin: int("IFC_RTC_PORT_MIN", 0, "Lowest UDP port for ICE (0 with IFC_RTC_PORT_MAX 0: any ephemeral port). Each publisher or WHEP viewer uses one port per host address, so the range caps concurrent WebRTC sessions.", 0, 65535),
  rtcPortMax: int("IFC_RTC_PORT_MAX", 0, "Highest UDP port for ICE; must exceed IFC_RTC_PORT_MIN (werift needs a range of two or more).", 0, 65535),
  rtcPublicIps: list("IFC_RTC_PUBLIC_IPS", [], "Public IPs advertised as extra host candidates (1:1 NAT), comma separated."),
  rtcInterfaceAddress: str("IFC_RTC_INTERFACE_ADDRESS", "", "Bind ICE to this local IPv4 address only (empty: all interfaces)."),
  rtcIpv6: bool("IFC_RTC_IPV6", false, "Gather IPv6 host candidates too."),
  pliMinIntervalMs: int("IFC_PLI_MIN_INTERVAL_MS", 500, "Least time between two keyframe requests (PLI) sent to one publisher.", 50),
  rembBitrateBps: int("IFC_REMB_BITRATE_BPS", 6_000_000, "Bandwidth estimate sent to publishers (REMB) so browsers ramp up their bitrate; 0 disables.", 0),
  reorderWindowPackets: int("IFC_REORDER_WINDOW_PACKETS", 64, "How many later packets an incomplete access unit may wait for a missing one before it is dropped.", 0, 4096),
  whepMaxViewersPerStream: int("IFC_WHEP_MAX_VIEWERS_PER_STREAM", 50, "Most WHEP viewers of one stream; more are refused with 503 and Retry-After.", 1),
  whepMaxViewers: int("IFC_WHEP_MAX_VIEWERS", 200, "Most WHEP viewers on the server over all streams; more are refused with 503 and Retry-After.", 1),
  whepPacketCachePackets: int("IFC_WHEP_PACKET_CACHE_PACKETS", 512, "Least video RTP packets kept per stream whatever their age (the WHEP buffer's floor under IFC_STREAM_BUFFER_MS, which answers viewers' NACKs and sets how far a slow viewer may lag before it drops to the next keyframe).", 64, 16_384),
  whepJoin: oneOf("IFC_WHEP_JOIN", "cached-gop", ["cached-gop", "next-keyframe"] as const, "How a new WHEP viewer starts: `cached-gop` sends the stream buffer from its last IDR at once (first frame without waiting for the publisher's next keyframe); `next-keyframe` waits for a new IDR (asked for with PLI)."),
  whepStrictProfile: bool("IFC_WHEP_STRICT_PROFILE", false, "Refuse (406) a WHEP viewer that does not offer the publisher's exact H.264 profile; by default any H.264 with packetization-mode 1 gets the stream, as browsers decode High profile in software."),
  streamBufferMs: int("IFC_STREAM_BUFFER_MS", 10_000, "Media kept in memory per live stream (GOP cache for new viewers, pre-roll for recordings started on demand); at least one GOP is kept even when longer.", 0),
  streamBufferBytes: int("IFC_STREAM_BUFFER_BYTES", 32 * 1024 * 1024, "Byte cap of each live stream's buffer (IFC_STREAM_BUFFER_MS); the oldest GOPs go first.", 65_536),
  whepIdleTimeoutMs: int("IFC_WHEP_IDLE_TIMEOUT_MS", 30_000, "A connected WHEP viewer that sends no RTCP for this long (a closed tab without DELETE) is disconnected.", 1000),
  readerQueueFrames: int("IFC_READER_QUEUE_FRAMES", 512, "Bounded queue per reader of a live stream (frames); a full queue drops and counts.", 1),
  readerWarnIntervalMs: int("IFC_READER_WARN_INTERVAL_MS", 10_000, "Least time between two warnings about one stream reader's dropped frames or callback errors (each warning sums what happened since the last).", 1),
  readerMaxConsecutiveErrors: int("IFC_READER_MAX_CONSECUTIVE_ERRORS", 30, "A stream reader (recorder, decoder) whose callback throws this many times in a row is detached and reported.", 1),

  recordByDefault: bool("IFC_RECORD", true, "Record every live stream from its first keyframe."),
  recordOnDetection: list("IFC_RECORD_ON_DETECTION", [], "Detection types (`qr_code,motion`) that start a recording of the stream, with pre-roll, when IFC_RECORD=false; empty: none."),
  recordOnDetectionPreRollMs: int("IFC_RECORD_ON_DETECTION_PRE_ROLL_MS", 5000, "Seconds before the detection that a detection-triggered recording starts with (from the stream buffer).", 0),
  recordOnDetectionPostRollMs: int("IFC_RECORD_ON_DETECTION_POST_ROLL_MS", 10_000, "A detection-triggered recording stops this long after the last matching detection.", 0),
  segmentDurationMs: int("IFC_SEGMENT_DURATION_MS", 4000, "Target duration of a recording segment; segments start only at IDR frames.", 500),
  partDurationMs: int("IFC_PART_DURATION_MS", 1000, "Duration of a part within a segment: the most a crash can lose.", 100),
  segmentAlignWallClock: bool("IFC_SEGMENT_ALIGN_WALLCLOCK", false, "Cut segments on wall-clock multiples of IFC_SEGMENT_DURATION_MS so streams' segments line up (keyframe requests timed for it)."),
  keyframeRequestLeadMs: int("IFC_KEYFRAME_REQUEST_LEAD_MS", 300, "Ask the publisher for an IDR this long before a segment is due.", 0),
  maxSegmentDurationMs: int("IFC_MAX_SEGMENT_DURATION_MS", 20_000, "Hard cap: a segment this long without any IDR is closed at the next IDR as soon as one comes; until then it grows (recorded, not lost).", 1000),
  retentionMinutes: int("IFC_RETENTION_MINUTES", 15, "Rolling window: keep this many minutes of each stream's recording (0 keeps everything).", 0),
  retentionMinutesByStream: streamIntMap("IFC_RETENTION_MINUTES_BY_STREAM", "Per-stream windows overriding IFC_RETENTION_MINUTES, e.g. `cam1=5,dock=60` (0 keeps everything)."),
  retentionStreamBytes: int("IFC_RETENTION_STREAM_BYTES", 0, "Byte cap per stream's rolling recording (0: none); whichever bound comes first wins.", 0),
  retentionTotalBytes: int("IFC_RETENTION_TOTAL_BYTES", 0, "Byte cap over all streams' rolling recordings (0: none).", 0),
  retentionMinFreeBytes: int("IFC_RETENTION_MIN_FREE_BYTES", 256 * 1024 * 1024, "Free space kept on the disk of the fs store and of the S3 spool: below it the oldest rolling segments are deleted first (never kept clips), and an alarm is logged and counted. 0: no check.", 0),
  retentionIntervalMs: int("IFC_RETENTION_INTERVAL_MS", 10_000, "How often the retention cleaner runs.", 100),
  clipRetentionDays: int("IFC_CLIP_RETENTION_DAYS", 30, "Kept clips are deleted this many days after they were made.", 1),
  maxTags: int("IFC_MAX_TAGS", 32, "Most key/value tags on one recording or clip.", 1, 1000),
  clipMaxDurationMs: int("IFC_CLIP_MAX_DURATION_MS", 3_600_000, "Longest span one clip may keep; longer asks get 400.", 1000),
  clipMaxCount: int("IFC_CLIP_MAX_COUNT", 1000, "Most clips kept at once; beyond it a new clip gets 409 until some are deleted or expire.", 1),
  clipTotalBytes: int("IFC_CLIP_TOTAL_BYTES", 10 * 1024 ** 3, "Most bytes all kept clips hold together (0: no cap); beyond it a new clip gets 507. Clips sit outside the retention byte caps.", 0),
  playMaxDurationMs: int("IFC_PLAY_MAX_DURATION_MS", 3_600_000, "Longest span one playback request may ask for.", 1000),
  hlsWindowSegments: int("IFC_HLS_WINDOW_SEGMENTS", 6, "Segments in the live HLS playlist's sliding window.", 1, 1000),
  hlsPartSegments: int("IFC_HLS_PART_SEGMENTS", 2, "Newest segments whose LL-HLS parts (EXT-X-PART) the live playlist lists.", 1, 100),
  hlsBlockingTimeoutMs: int("IFC_HLS_BLOCKING_TIMEOUT_MS", 6000, "Longest hold of an LL-HLS blocking playlist reload or preload-hinted part before 503.", 100),
  hlsMaxBlockedRequests: int("IFC_HLS_MAX_BLOCKED_REQUESTS", 100, "Most LL-HLS requests held at once per stream; more get 503 with Retry-After.", 1),
  decoderReaderQueue: int("IFC_DECODER_READER_QUEUE", 64, "Access units queued for a stream's decoder; beyond it the hub drops and the decoder waits for the next IDR.", 1),
  decoderMaxStdinBytes: int("IFC_DECODER_MAX_STDIN_BYTES", 1024 * 1024, "Bytes queued to a decoder's ffmpeg before access units are dropped until the next IDR.", 1024),
  decoderRestartBackoffMinMs: int("IFC_DECODER_RESTART_BACKOFF_MIN_MS", 250, "First delay before restarting a crashed decoder; doubles per crash, resets after 10 s of good running.", 1),
  decoderRestartBackoffMaxMs: int("IFC_DECODER_RESTART_BACKOFF_MAX_MS", 10_000, "Longest delay before restarting a crashed decoder.", 1),
  decoderJpegQuality: int("IFC_DECODER_JPEG_QUALITY", 5, "JPEG quality (ffmpeg -q:v, 2 best … 31) when a worker asks for JPEG frames.", 2, 31),
  decoderDesyncUnits: int("IFC_DECODER_DESYNC_UNITS", 60, "Units a decoder's output may lag (queue never empty) before input pauses until the next IDR …", 2),
  decoderDesyncMs: int("IFC_DECODER_DESYNC_MS", 2000, "… and for at least this long.", 100),
  aiEnabled: bool("IFC_AI_ENABLED", true, "Feed every live stream's sampled frames to the AI workers (decode once per stream)."),
  aiWorkers: list("IFC_AI_WORKERS", [], "AI worker gRPC endpoints `host:port`, comma separated; empty: the bundled reference worker runs in-process (IFC_AI_EMBEDDED_WORKER)."),
  aiEmbeddedWorker: bool("IFC_AI_EMBEDDED_WORKER", true, "With IFC_AI_WORKERS empty, start the bundled reference worker (QR codes, motion) on 127.0.0.1."),
  aiEmbeddedWorkerCapacityFps: int("IFC_AI_EMBEDDED_WORKER_CAPACITY_FPS", 30, "Frames per second per stream the bundled worker grants credits for.", 1, 1000),
  aiMaxSessions: int("IFC_AI_MAX_SESSIONS", 16, "Streams fed to AI workers at once; later streams wait for a slot.", 0),
  aiMaxFps: int("IFC_AI_MAX_FPS", 0, "Frames per second sent to all AI workers together (0: no cap).", 0),
  aiMaxPreset: oneOf("IFC_AI_MAX_PRESET", "high", ["high", "medium", "low"] as const, "Highest QoS preset: high 30 fps ≤2160p, medium 15 fps ≤1080p, low 8 fps ≤720p (never upscaled)."),
  aiPriorities: streamIntMap("IFC_AI_PRIORITIES", "Per-stream AI priority, e.g. `line1=10,dock=1` (higher gets the frame budget first; default 0)."),
  aiResultTimeoutMs: int("IFC_AI_RESULT_TIMEOUT_MS", 5000, "Deadline for a frame's result; past it the worker call fails and is retried.", 100),
  aiHealthIntervalMs: int("IFC_AI_HEALTH_INTERVAL_MS", 10_000, "grpc.health.v1 check of every AI worker this often.", 100),
  aiHealthTimeoutMs: int("IFC_AI_HEALTH_TIMEOUT_MS", 2000, "Deadline of one health check.", 50),
  aiBreakerFailures: int("IFC_AI_BREAKER_FAILURES", 5, "Consecutive failures that open a worker's circuit breaker.", 1),
  aiBreakerOpenMs: int("IFC_AI_BREAKER_OPEN_MS", 30_000, "Time an open breaker waits before letting a probe through (half-open).", 0),
  aiBreakerSuccesses: int("IFC_AI_BREAKER_SUCCESSES", 3, "Consecutive successes in half-open that close the breaker.", 1),
  aiReconnectMinMs: int("IFC_AI_RECONNECT_MIN_MS", 1000, "First delay before reconnecting a failed worker stream; doubles per failure (±25 % jitter).", 1),
  aiReconnectMaxMs: int("IFC_AI_RECONNECT_MAX_MS", 30_000, "Longest delay between reconnect attempts.", 1),
  aiMaxFrameBytes: int("IFC_AI_MAX_FRAME_BYTES", 32 * 1024 * 1024, "Largest frame message sent to a worker (gRPC message limit).", 1024),
  qosStepDownAfterMs: int("IFC_QOS_STEP_DOWN_AFTER_MS", 3000, "A worker must lag this long before a stream steps down a QoS preset.", 100),
  qosStepUpAfterMs: int("IFC_QOS_STEP_UP_AFTER_MS", 10_000, "Quiet period before stepping back up (doubles after a failed step up, up to 60 s, so at most 60000).", 100, 60_000),
  qosNoCreditPercent: int("IFC_QOS_NO_CREDIT_PERCENT", 50, "Lag: frames waited for a credit more than this share of the time.", 1, 100),
  qosDropPercent: int("IFC_QOS_DROP_PERCENT", 50, "Lag: more than this share of sampled frames was dropped for want of credit.", 1, 100),
  qosLatencyMs: int("IFC_QOS_LATENCY_MS", 1000, "Lag: median worker round trip above this.", 1),
  wsMaxBufferedBytes: int("IFC_WS_MAX_BUFFERED_BYTES", 1024 * 1024, "WebSocket clients whose unsent data passes this are closed (1013); others are unaffected.", 1024),
  wsMaxMessagesPerMinute: int("IFC_WS_MAX_MESSAGES_PER_MINUTE", 100, "Client → server WebSocket messages allowed per connection per minute; more closes it (1008).", 1),
  wsMaxMessageBytes: int("IFC_WS_MAX_MESSAGE_BYTES", 4096, "Largest client → server WebSocket message (1009 beyond).", 16),
  wsMaxClients: int("IFC_WS_MAX_CLIENTS", 1000, "Most WebSocket clients at once; more get 503 before the upgrade.", 1),
  wsStatsIntervalMs: int("IFC_WS_STATS_INTERVAL_MS", 1000, "Period of `stream_stats` and `system_status` pushes.", 100),
  shutdownTimeoutMs: int("IFC_SHUTDOWN_TIMEOUT_MS", 10_000, "Most time graceful shutdown waits for open recordings to be written.", 100),

  usersFile: str("IFC_USERS_FILE", "", "Users and their scrypt password hashes (JSON); empty: `<IFC_DATA_DIR>/users.json`. Created with an `admin` user on first start."),
  authKeysDir: str("IFC_AUTH_KEYS_DIR", "", "Directory of the RS256 signing keys (PEM), generated when absent; empty: `<IFC_DATA_DIR>/auth`."),
  authIssuer: str("IFC_AUTH_ISSUER", "imageflowcanvas-ingest", "`iss` of the tokens this server signs (and expects back)."),
  authAccessTtlMs: int("IFC_AUTH_ACCESS_TTL_MS", 8 * 3_600_000, "Lifetime of an access token.", 1000),
  authRefreshTtlMs: int("IFC_AUTH_REFRESH_TTL_MS", 7 * 86_400_000, "Lifetime of a refresh token (rotated on every use).", 1000),
  authViewTokenTtlMs: int("IFC_AUTH_VIEW_TOKEN_TTL_MS", 3_600_000, "Lifetime of a signed view token for players (`?token=` on HLS, playback, WHEP, WebSocket).", 1000),
  authJwksUrl: str("IFC_AUTH_JWKS_URL", "", "JWKS URL of an external identity provider whose RS256/ES256 tokens are accepted too; empty: none."),
  authJwksIssuer: str("IFC_AUTH_JWKS_ISSUER", "", "Required `iss` of external tokens (empty: not checked)."),
  authJwksAudience: str("IFC_AUTH_JWKS_AUDIENCE", "", "Required `aud` of external tokens (empty: not checked)."),
  authPermissionClaim: str("IFC_AUTH_PERMISSION_CLAIM", "permissions", "Claim of an external token holding its permission strings (a list, or a space-separated string); a `role` claim naming admin/operator/viewer is used when it is absent."),
  authAnonymousNetworks: { ...list("IFC_AUTH_ANONYMOUS_NETWORKS", ["127.0.0.0/8", "::1/128"], "Client networks (CIDR) that may act without credentials; set it empty (`IFC_AUTH_ANONYMOUS_NETWORKS=`) to turn anonymous access off everywhere."), emptyIsValue: true },
  authAnonymousPermissions: list("IFC_AUTH_ANONYMOUS_PERMISSIONS", ["*"], "What anonymous clients from IFC_AUTH_ANONYMOUS_NETWORKS may do (permission strings)."),
  metricsNetworks: list("IFC_METRICS_NETWORKS", [], "Client networks (CIDR) that may read /metrics without credentials (e.g. the Prometheus host); others need `system:view`."),
  loginMaxFailuresPerUser: int("IFC_LOGIN_MAX_FAILURES_PER_USER", 5, "Failed logins allowed per user name per IFC_LOGIN_WINDOW_MS; more get 429 until the window passes.", 1),
  loginMaxAttemptsPerClient: int("IFC_LOGIN_MAX_ATTEMPTS_PER_CLIENT", 20, "Login attempts allowed per client address per IFC_LOGIN_WINDOW_MS.", 1),
  loginWindowMs: int("IFC_LOGIN_WINDOW_MS", 900_000, "Window of the login attempt limits.", 1000),
  restRateLimitPerMinute: int("IFC_REST_RATE_LIMIT_PER_MINUTE", 1000, "REST/WHIP/WHEP/HLS requests allowed per client address per minute; more get 429 with Retry-After (0: no limit).", 0),
  grpcRateLimitPerMinute: int("IFC_GRPC_RATE_LIMIT_PER_MINUTE", 500, "gRPC control calls allowed per client address per minute; more get RESOURCE_EXHAUSTED (0: no limit).", 0),
  httpMaxConnectionsPerClient: int("IFC_HTTP_MAX_CONNECTIONS_PER_CLIENT", 256, "Most open HTTP connections from one client address; more are closed at once.", 1),
  httpHeadersTimeoutMs: int("IFC_HTTP_HEADERS_TIMEOUT_MS", 10_000, "A client must send a request's headers within this time.", 100),
  httpRequestTimeoutMs: int("IFC_HTTP_REQUEST_TIMEOUT_MS", 30_000, "A client must send a whole request (headers and body) within this time.", 100),
  rtcMaxPendingPerClient: int("IFC_RTC_MAX_PENDING_PER_CLIENT", 8, "WHIP/WHEP sessions one client address may hold that have not connected yet; more get 429.", 1),
  tlsCert: str("IFC_TLS_CERT", "", "PEM certificate (chain) file: with IFC_TLS_KEY, HTTPS (and gRPC over TLS); reloaded on SIGHUP."),
  tlsKey: str("IFC_TLS_KEY", "", "PEM private key file of IFC_TLS_CERT."),
  tlsMinVersion: oneOf("IFC_TLS_MIN_VERSION", "TLSv1.2", ["TLSv1.2", "TLSv1.3"] as const, "Lowest TLS version accepted."),
  hstsMaxAgeS: int("IFC_HSTS_MAX_AGE_S", 15_552_000, "With TLS on: Strict-Transport-Security max-age (0: no HSTS header).", 0),
  grpcEnabled: bool("IFC_GRPC_ENABLED", true, "Serve the gRPC control API (ingest_control.proto, AuthService)."),
  grpcHost: str("IFC_GRPC_HOST", "0.0.0.0", "Address the gRPC control server listens on."),
  grpcPort: int("IFC_GRPC_PORT", 50052, "Port of the gRPC control server (0: any free port).", 0, 65535),

  rtspEnabled: bool("IFC_RTSP_ENABLED", true, "Serve RTSP (RFC 2326): cameras and encoders publish with ANNOUNCE/RECORD, players read any live stream with DESCRIBE/PLAY."),
  rtspHost: str("IFC_RTSP_HOST", "0.0.0.0", "Address the RTSP server listens on (TCP, and its UDP transports)."),
  rtspPort: int("IFC_RTSP_PORT", 8554, "TCP port of the RTSP server (0: any free port).", 0, 65535),
  rtspUdpPortMin: int("IFC_RTSP_UDP_PORT_MIN", 30_000, "Lowest server port for RTSP's UDP transport (RTP on even ports, RTCP on the next). 0 with IFC_RTSP_UDP_PORT_MAX 0: UDP transport off (TCP interleaved only; SETUP over UDP gets 461).", 0, 65535),
  rtspUdpPortMax: int("IFC_RTSP_UDP_PORT_MAX", 30_999, "Highest server port for RTSP's UDP transport; the range caps concurrent UDP tracks at half its size.", 0, 65535),
  rtspUdpRecvBufferBytes: int("IFC_RTSP_UDP_RECV_BUFFER_BYTES", 4 * 1024 * 1024, "UDP receive buffer requested for each RTSP RTP socket (keyframe bursts); the kernel caps it at net.core.rmem_max. 0 keeps the kernel default.", 0),
  rtspSessionTimeoutMs: int("IFC_RTSP_SESSION_TIMEOUT_MS", 60_000, "An RTSP session with no request and no media for this long ends (announced in `Session: <id>;timeout=`; clients keep alive with OPTIONS or GET_PARAMETER).", 1000),
  rtspMaxConnections: int("IFC_RTSP_MAX_CONNECTIONS", 256, "Most RTSP TCP connections open at once; more are answered 503 and closed.", 1),
  rtspMaxHeaderBytes: int("IFC_RTSP_MAX_HEADER_BYTES", 16_384, "Largest RTSP request line plus headers (bytes); larger is refused and the connection closed.", 512),
  rtspMaxBodyBytes: int("IFC_RTSP_MAX_BODY_BYTES", 65_536, "Largest RTSP request body, i.e. an ANNOUNCE SDP (bytes); larger gets 413.", 256),
  rtspWriteBufferBytes: int("IFC_RTSP_WRITE_BUFFER_BYTES", 2 * 1024 * 1024, "A TCP-interleaved RTSP reader whose socket holds this many unsent bytes drops frames (counted) until it drains: a slow reader never stalls the publisher.", 65_536),

  sources: sources("IFC_SOURCES", "Cameras the server pulls over RTSP (it is their client): a list of `{name, url, transport, mode}` — `name` the stream, `url` `rtsp://user:pass@host/path`, `transport` `auto` (UDP, TCP when refused; default) / `tcp` / `udp`, `mode` `always` (default) or `on-demand` (pulled while a reader wants it). A YAML list in the config file, a JSON array in the variable. More can be added over `POST /api/v1/sources`."),
  sourceConnectTimeoutMs: int("IFC_SOURCE_CONNECT_TIMEOUT_MS", 10_000, "A pulled camera must accept the TCP connection and answer each RTSP request within this time, or the try fails (and is retried).", 100),
  sourceRetryMinMs: int("IFC_SOURCE_RETRY_MIN_MS", 1000, "First delay before trying a pulled camera again after it failed or dropped; doubles per failure (±25 % jitter), back to this once it is live.", 1),
  sourceRetryMaxMs: int("IFC_SOURCE_RETRY_MAX_MS", 30_000, "Longest delay between tries of a pulled camera.", 1),
  sourceOnDemandCloseAfterMs: int("IFC_SOURCE_ON_DEMAND_CLOSE_AFTER_MS", 10_000, "An on-demand source stops this long after its last reader left (no WHEP viewer, no RTSP reader, no HLS playlist request).", 0),

  nodeId: str("IFC_NODE_ID", "", "This node's id in a cluster, unique per node (the owner of its streams in the shared registry, its Kafka consumer group `ifc-node-<id>`); empty: the host name."),
  eventBus: oneOf("IFC_EVENT_BUS", "memory", ["memory", "kafka"] as const, "Where events go: `memory` (in-process, one node) or `kafka` (IFC_KAFKA_BROKERS; every node's WebSocket clients see every node's events)."),
  kafkaBrokers: list("IFC_KAFKA_BROKERS", ["127.0.0.1:9092"], "With IFC_EVENT_BUS=kafka: bootstrap brokers, `host:port` comma separated."),
  kafkaReplicationFactor: int("IFC_KAFKA_REPLICATION_FACTOR", 3, "With IFC_EVENT_BUS=kafka: replication of the topics the server creates when missing (capped at the brokers in the cluster, with a warning).", 1, 32),
  kafkaPartitions: int("IFC_KAFKA_PARTITIONS", 4, "With IFC_EVENT_BUS=kafka: partitions of a topic the server creates, unless IFC_KAFKA_TOPIC_PARTITIONS names it.", 1, 1024),
  kafkaTopicPartitions: { ...streamIntMap("IFC_KAFKA_TOPIC_PARTITIONS", "With IFC_EVENT_BUS=kafka: partitions per topic created, e.g. `video-analysis-events=8,pipeline-progress=4` (the design documents' figures, the default).", 1, 1024), default: new Map([["video-analysis-events", 8], ["pipeline-progress", 4]]) as ReadonlyMap<string, number> },
  kafkaQueueMaxEvents: int("IFC_KAFKA_QUEUE_MAX_EVENTS", 10_000, "With IFC_EVENT_BUS=kafka: events held in order while the brokers cannot be reached; beyond it new events are dropped, counted (`ifc_events_dropped_total`) and logged.", 1),
  state: oneOf("IFC_STATE", "memory", ["memory", "redis"] as const, "Where shared state lives: `memory` (one node) or `redis` (IFC_REDIS_URL: the cluster's stream registry, revoked tokens and rate-limit counters)."),
  redisUrl: str("IFC_REDIS_URL", "redis://127.0.0.1:6379", "With IFC_STATE=redis: `redis://[user:password@]host:port[/db]`."),
  registryTtlMs: int("IFC_REGISTRY_TTL_MS", 10_000, "A node's claim on its streams lasts this long unless renewed (it renews every third of it): a dead node's streams are free again within it.", 1000),

  databaseUrl: str("IFC_DATABASE_URL", "", "The metadata database (pipelines, executions, files): `postgres://user:password@host:port/db`; empty: PGlite (embedded Postgres) under `<IFC_DATA_DIR>/db`, opened at the first pipeline request (or at start when it exists)."),
  pipelineServices: list("IFC_PIPELINE_SERVICES", [], "Resident gRPC service instances, `Service=host:port` comma separated (e.g. `AIDetectionService=10.0.0.7:50052`); instances may also register themselves through POST /api/v1/grpc-services."),
  pipelineEmbeddedServices: oneOf("IFC_PIPELINE_EMBEDDED_SERVICES", "child", ["child", "in-process", "off"] as const, "The bundled Resize, Filter and AI detection services: a child process (`child`, over the fs store; with IFC_STORE=s3 they run `in-process`), in this process, or `off` (only IFC_PIPELINE_SERVICES)."),
  pipelineBalancing: oneOf("IFC_PIPELINE_BALANCING", "least-connections", ["least-connections", "response-time", "random"] as const, "How a step picks among a service's healthy instances."),
  pipelineHealthIntervalMs: int("IFC_PIPELINE_HEALTH_INTERVAL_MS", 10_000, "grpc.health.v1 check of every service instance, this often.", 100),
  pipelinePoolSize: int("IFC_PIPELINE_POOL_SIZE", 10, "gRPC connections kept per service instance (keep-alive 30 s).", 1, 100),
  pipelineCallTimeoutMs: int("IFC_PIPELINE_CALL_TIMEOUT_MS", 5000, "Deadline of a step call when its definition gives no `timeout_ms`.", 10),
  pipelineMaxConcurrent: int("IFC_PIPELINE_MAX_CONCURRENT", 4, "Executions running at once on this node; more wait in the queue by priority.", 1, 1024),
  pipelineQueueMax: int("IFC_PIPELINE_QUEUE_MAX", 100, "Executions waiting for a slot; past it POST /api/v1/executions answers 503 with Retry-After.", 0, 1_000_000),
  pipelineFallbackConsumers: int("IFC_PIPELINE_FALLBACK_CONSUMERS", 2, "Executions the fallback consumers (topic `image-processing-requests`) run at once while the direct path is down.", 1, 256),
  filesMaxBytes: int("IFC_FILES_MAX_BYTES", 32 * 1024 * 1024, "Largest uploaded file (POST /api/v1/files, /api/v1/executions); bigger gets 413.", 1),
  filesMaxCount: int("IFC_FILES_MAX_COUNT", 10, "Files in one upload request; more gets 413.", 1, 1000),
  frameApiMaxPending: int("IFC_FRAME_API_MAX_PENDING", 2, "Frame API (gRPC CameraStreamService, WS /ws/camera-stream): decoded frames a session holds while waiting for an AI worker's credit; more are dropped and counted.", 1, 64),
  frameApiMaxFrameBytes: int("IFC_FRAME_API_MAX_FRAME_BYTES", 8 * 1024 * 1024, "Frame API: the largest JPEG/PNG frame a client may send.", 1024),
  frameApiMaxSessions: int("IFC_FRAME_API_MAX_SESSIONS", 16, "Frame API: client sessions at once per transport (gRPC, WebSocket); one more is refused (RESOURCE_EXHAUSTED / 503).", 1, 10_000),
  frameApiArchiveEveryNth: int("IFC_FRAME_API_ARCHIVE_EVERY_NTH", 0, "Frame API: also archive every Nth frame of a session to `video-stream-archive/` (0: only frames whose metadata says `archive: true`).", 0),
  filesAllowedTypes: list("IFC_FILES_ALLOWED_TYPES", ["image/jpeg", "image/png", "image/webp"], "Content types an upload may have; others get 415."),

  cache: oneOf("IFC_CACHE", "memory", ["memory", "redis"] as const, "The product and inspection-rule cache: an in-process LRU (`memory`) or Redis (`redis`, at IFC_REDIS_URL). Same TTLs either way; when Redis fails, reads go to the database and the error is counted."),
  cacheMaxEntries: int("IFC_CACHE_MAX_ENTRIES", 100_000, "With IFC_CACHE=memory: entries kept before the least recently used are evicted.", 1, 10_000_000),
  productQrFormat: oneOf("IFC_PRODUCT_QR_FORMAT", "auto", ["auto", "standard", "custom"] as const, "How GET /api/v1/products/by-qr reads a payload: `standard` (the project's `IFC1;wo=…` format), `custom` (IFC_PRODUCT_QR_CUSTOM_PATTERN), or `auto` (standard, then custom)."),
  productQrCustomPattern: str("IFC_PRODUCT_QR_CUSTOM_PATTERN", "", "A regular expression with named groups (`work_order_id`, `instruction_id`, `product_type`, `machine_number`, `production_date`, `monthly_sequence`) for a site's own QR payloads; `work_order_id` is required. Empty: no custom format."),
  productsBatchMax: int("IFC_PRODUCTS_BATCH_MAX", 100, "Product ids in one batch get (REST and gRPC); more gets 400 / INVALID_ARGUMENT.", 1, 10_000),
  productsImportMaxBytes: int("IFC_PRODUCTS_IMPORT_MAX_BYTES", 64 * 1024 * 1024, "Largest body of POST /api/v1/products/import (JSON array or CSV); bigger gets 413.", 1024),
  productsImportMaxRows: int("IFC_PRODUCTS_IMPORT_MAX_ROWS", 200_000, "Rows in one import; the rows past it are reported as refused, the ones before are kept.", 1),
  qualityAlertNgRate: int("IFC_QUALITY_ALERT_NG_RATE", 5, "Percent (whole) of NG inspections over IFC_QUALITY_WINDOW_MS above which a `quality_alert` is raised (the documents' example: 5 % over the last hour).", 0, 100),
  qualityWindowMs: int("IFC_QUALITY_WINDOW_MS", 3_600_000, "The window of the real-time quality figures and alerts.", 1000),
  qualityUpdateIntervalMs: int("IFC_QUALITY_UPDATE_INTERVAL_MS", 5000, "WS /ws/quality-metrics pushes a `quality_update` this often while clients are connected (and at once after each result).", 100),
  syncMaxChanges: int("IFC_SYNC_MAX_CHANGES", 1000, "Changes in one offline-device upload or changes page; more gets 413 (upload) or a next cursor (download).", 1, 100_000),
} as const;


type SpecOf = typeof CONFIG_SPEC;
export type ConfigKey = keyof SpecOf;
export type Config = { [K in ConfigKey]: SpecOf[K]["default"] };

export class ConfigError extends Error {
  override name = "ConfigError";
}

const SPECS = Object.entries(CONFIG_SPEC) as [ConfigKey, Spec<unknown>][];
/** A key may be named in a config file by its variable (`IFC_HTTP_PORT`) or its camelCase key (`httpPort`). */
const KEY_BY_NAME = new Map<string, ConfigKey>(SPECS.flatMap(([key, spec]) => [[spec.env, key], [key, key]]));

function checkRange(spec: Spec<unknown>, n: number, where: string): number {
  if (n < (spec.min ?? -Infinity) || n > (spec.max ?? Infinity)) throw new ConfigError(`${where}: ${n} is outside [${spec.min}, ${spec.max}]`);
  return n;
}

function toInt(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) ? value : undefined;
  if (typeof value === "string" && /^-?\d+$/.test(value.trim())) {
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

function addMapEntry(spec: Spec<unknown>, out: Map<string, number>, key: string, value: unknown, where: string): void {
  if (!spec.keyPattern?.test(key)) throw new ConfigError(`${where}: "${key}" is not a stream name (${spec.keyPattern?.source})`);
  if (out.has(key)) throw new ConfigError(`${where}: "${key}" is given twice`);
  const n = toInt(value);
  if (n === undefined) throw new ConfigError(`${where}: ${key}=${String(value)}: expected an integer`);
  out.set(key, checkRange(spec, n, `${where}: ${key}`));
}

/** Parses one value written as text (an environment variable, or a string in the config file). */
function parseText(spec: Spec<unknown>, raw: string, where: string): unknown {
  switch (spec.kind) {
    case "int": {
      const n = toInt(raw);
      if (n === undefined) throw new ConfigError(`${where}: expected an integer, got "${raw}"`);
      return checkRange(spec, n, where);
    }
    case "bool": {
      const v = raw.trim().toLowerCase();
      if (["1", "true", "yes", "on"].includes(v)) return true;
      if (["0", "false", "no", "off"].includes(v)) return false;
      throw new ConfigError(`${where}: expected true/false, got "${raw}"`);
    }
    case "list":
      return raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
    case "map": {
      const out = new Map<string, number>();
      for (const part of raw.split(",")) {
        const entry = part.trim();
        if (entry === "") continue; // "a=1,,b=2" and a trailing comma, as lists allow
        const eq = entry.indexOf("=");
        if (eq < 0) throw new ConfigError(`${where}: "${entry}" is not name=value`);
        addMapEntry(spec, out, entry.slice(0, eq).trim(), entry.slice(eq + 1).trim(), where);
      }
      return out;
    }
    case "enum":
      if (!spec.values?.includes(raw)) throw new ConfigError(`${where}: expected one of ${spec.values?.join(", ")}, got "${raw}"`);
      return raw;
    case "url": {
      const text = raw.trim();
      if (text === "") return "";
      let parsed: URL;
      try {
        parsed = new URL(text);
      } catch {
        throw new ConfigError(`${where}: "${raw}" is not an absolute URL`);
      }
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new ConfigError(`${where}: "${raw}" is not an http(s) URL`);
      if (parsed.search || parsed.hash) throw new ConfigError(`${where}: "${raw}" must not carry a query or fragment`);
      return parsed.href.replace(/\/+$/, "");
    }
    case "string":
      return raw;
    case "sources": {
      let doc: unknown;
      try {
        doc = JSON.parse(raw);
      } catch (err) {
        throw new ConfigError(`${where}: expected a JSON array of sources: ${(err as Error).message}`);
      }
      return parseSources(doc, where);
    }
  }
}

function parseSources(value: unknown, where: string): readonly SourceDeclaration[] {
  try {
    return parseSourceList(value);
  } catch (err) {
    if (err instanceof InvalidInput) throw new ConfigError(`${where}${err.message.startsWith("[") ? "" : ": "}${err.message}`);
    throw err;
  }
}

/** Parses one value from the config file, where YAML/JSON may give numbers, booleans, lists and maps natively. */
function parseNative(spec: Spec<unknown>, value: unknown, where: string): unknown {
  if (typeof value === "string") return parseText(spec, value, where);
  const got = Array.isArray(value) ? "a list" : typeof value === "object" ? "a map" : `${typeof value} ${String(value)}`;
  switch (spec.kind) {
    case "int": {
      const n = toInt(value);
      if (n === undefined) throw new ConfigError(`${where}: expected an integer, got ${got}`);
      return checkRange(spec, n, where);
    }
    case "bool":
      if (typeof value !== "boolean") throw new ConfigError(`${where}: expected true/false, got ${got}`);
      return value;
    case "list":
      if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw new ConfigError(`${where}: expected a list of strings, got ${got}`);
      return value.map((s: string) => s.trim()).filter((s) => s.length > 0);
    case "map": {
      if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ConfigError(`${where}: expected a map of name: integer, got ${got}`);
      const out = new Map<string, number>();
      for (const [k, v] of Object.entries(value)) addMapEntry(spec, out, k, v, where);
      return out;
    }
    case "string":
      // `iceUsername: 1234` in YAML is a number; the key wants its text.
      if (typeof value === "number") return String(value);
      throw new ConfigError(`${where}: expected a string, got ${got}`);
    case "sources":
      return parseSources(value, where);
    case "enum":
    case "url":
      throw new ConfigError(`${where}: expected a string, got ${got}`);
  }
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** The known name closest to a mistyped one, when it is close enough to be a likely typo. */
function closestName(name: string): string | undefined {
  const upper = name.toUpperCase();
  let best: { name: string; d: number } | undefined;
  for (const known of KEY_BY_NAME.keys()) {
    // Case-insensitive, so `ifc_http_port` finds IFC_HTTP_PORT and `httpport` finds httpPort.
    const d = editDistance(upper, known.toUpperCase());
    if (!best || d < best.d) best = { name: known, d };
  }
  return best && best.d <= Math.max(2, Math.floor(name.length / 4)) ? best.name : undefined;
}

/**
 * Reads the config file (YAML, or JSON for `.json`): a map from key (`IFC_HTTP_PORT` or
 * `httpPort`) to value. Unknown keys, keys given twice and bad values stop the load, named
 * with the file. A key with no value (`key:` in YAML, null in JSON) counts as not set.
 */
export function readConfigFile(file: string): Partial<Record<ConfigKey, unknown>> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`IFC_CONFIG: cannot read ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = file.toLowerCase().endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${file}: not valid ${file.toLowerCase().endsWith(".json") ? "JSON" : "YAML"}: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) throw new ConfigError(`${file}: expected a map of settings at the top level`);
  const out: Partial<Record<ConfigKey, unknown>> = {};
  const seen = new Map<ConfigKey, string>();
  for (const [name, value] of Object.entries(doc)) {
    const key = KEY_BY_NAME.get(name);
    if (key === undefined) {
      const hint = closestName(name);
      throw new ConfigError(`${file}: unknown key "${name}"${hint ? ` (did you mean "${hint}"?)` : ""}`);
    }
    const earlier = seen.get(key);
    if (earlier !== undefined) throw new ConfigError(`${file}: "${name}" and "${earlier}" set the same key`);
    seen.set(key, name);
    if (value === null) continue;
    out[key] = parseNative(CONFIG_SPEC[key], value, `${file}: ${name}`);
  }
  return out;
}

/**
 * `IFC_*` variables in the environment that name no key (a typo, or a removed key such as
 * IFC_FFPROBE_PATH), each with the closest known variable when one is near. The environment
 * holds other programs' variables too, so main warns about these rather than refusing them.
 */
export function unknownEnvVariables(env: NodeJS.ProcessEnv = process.env): { name: string; hint?: string }[] {
  return Object.keys(env)
    .filter((name) => name.startsWith("IFC_") && name !== "IFC_CONFIG" && !KEY_BY_NAME.has(name))
    .map((name) => {
      const hint = closestName(name);
      return hint?.startsWith("IFC_") ? { name, hint } : { name };
    });
}

/**
 * Builds the config: defaults, then `overrides` (tests), then the file named by `IFC_CONFIG`,
 * then the environment (an empty variable counts as unset, except for the few keys where empty is a value). Every value is checked here, so a
 * bad setting stops startup naming its variable rather than failing at first use.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const file = env.IFC_CONFIG ? readConfigFile(env.IFC_CONFIG) : {};
  const out: Record<string, unknown> = {};
  for (const [key, spec] of SPECS) {
    const raw = env[spec.env];
    if (raw !== undefined && (raw !== "" || spec.emptyIsValue)) out[key] = parseText(spec, raw, spec.env);
    else if (file[key] !== undefined) out[key] = file[key];
    else out[key] = overrides[key] ?? spec.default;
  }
  const cfg = out as Config;
  if ((cfg.rtcPortMin === 0) !== (cfg.rtcPortMax === 0)) throw new ConfigError("set both IFC_RTC_PORT_MIN and IFC_RTC_PORT_MAX, or neither");
  if (cfg.rtcPortMin > 0 && cfg.rtcPortMin >= cfg.rtcPortMax) throw new ConfigError("IFC_RTC_PORT_MIN must be below IFC_RTC_PORT_MAX (werift needs a range of two or more ports)");
  if ((cfg.rtspUdpPortMin === 0) !== (cfg.rtspUdpPortMax === 0)) throw new ConfigError("set both IFC_RTSP_UDP_PORT_MIN and IFC_RTSP_UDP_PORT_MAX, or neither (0 and 0: no UDP transport)");
  if (cfg.rtspUdpPortMin > 0 && cfg.rtspUdpPortMax - cfg.rtspUdpPortMin < 1) throw new ConfigError("IFC_RTSP_UDP_PORT_MAX must be above IFC_RTSP_UDP_PORT_MIN (a track needs an RTP and an RTCP port)");
  if (cfg.partDurationMs > cfg.segmentDurationMs) throw new ConfigError("IFC_PART_DURATION_MS must not exceed IFC_SEGMENT_DURATION_MS");
  if (cfg.sourceRetryMinMs > cfg.sourceRetryMaxMs) throw new ConfigError("IFC_SOURCE_RETRY_MIN_MS must not exceed IFC_SOURCE_RETRY_MAX_MS");
  if (cfg.uploadMinBackoffMs > cfg.uploadMaxBackoffMs) throw new ConfigError("IFC_UPLOAD_MIN_BACKOFF_MS must not exceed IFC_UPLOAD_MAX_BACKOFF_MS");
  if (cfg.maxSegmentDurationMs < cfg.segmentDurationMs) throw new ConfigError("IFC_MAX_SEGMENT_DURATION_MS must be at least IFC_SEGMENT_DURATION_MS");
  return cfg;
}

/** The README's config table, one row per key. */
export function configTableMarkdown(): string {
  const rows = Object.values(CONFIG_SPEC).map((s: Spec<unknown>) => {
    const d = s.default;
    const def = Array.isArray(d) ? (d.length ? d.map((v) => (typeof v === "string" ? v : JSON.stringify(v))).join(",") : "(empty)") : d instanceof Map ? (d.size ? [...d].map(([k, v]) => `${k}=${v}`).join(",") : "(empty)") : d === "" ? "(empty)" : String(d);
    return `| \`${s.env}\` | \`${def}\` | ${s.description} |`;
  });
  return ["| variable | default | meaning |", "| --- | --- | --- |", ...rows].join("\n");
}
