import { OFFER_EXCHANGE_JS } from "./offer-exchange-js.js";

/**
 * `/streams/{stream}`: plays the stream over WHEP (sub-second), falls back to LL-HLS through
 * hls.js when WebRTC cannot connect (or with `?hls=1`), draws the live detections over the
 * video and shows the stream's stats beside it. Plain HTML and a script: no build step.
 * State for tests and scripts lives on `window.__watch`.
 */
export function watchPage(stream: string, base = ""): string {
  const name = JSON.stringify(stream);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${stream} — ImageFlowCanvas Ingest</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 0; background: #111; color: #ddd; display: flex; flex-wrap: wrap; gap: 16px; padding: 16px; }
  #stage { position: relative; flex: 1 1 640px; max-width: 1280px; background: #000; }
  video { width: 100%; display: block; }
  canvas { position: absolute; inset: 0; width: 100%; height: 100%; pointer-events: none; }
  aside { flex: 0 1 300px; }
  table { border-collapse: collapse; width: 100%; }
  td { padding: 2px 6px; border-bottom: 1px solid #333; font-variant-numeric: tabular-nums; }
  td:first-child { color: #999; }
  #state { font-weight: bold; }
</style>
</head>
<body>
<div id="stage"><video id="video" autoplay muted playsinline controls></video><canvas id="overlay"></canvas></div>
<aside>
  <h3>${stream} <span id="state">connecting</span></h3>
  <table id="stats"></table>
  <h4>Latest detections</h4>
  <pre id="detections"></pre>
</aside>
<script>
"use strict";
const STREAM = ${name};
const BASE = ${JSON.stringify(base)}; // IFC_PUBLIC_URL, or "" for this page's origin
const q = new URLSearchParams(location.search);
const video = document.getElementById("video");
const overlay = document.getElementById("overlay");
const w = { mode: null, state: "connecting", error: null, whepPostAt: null, firstFrameAt: null, detections: 0, stats: null, pc: null, resourceUrl: null, hlsErrors: [], hlsPlayer: null };
window.__watch = w;
const setState = (s) => { w.state = s; document.getElementById("state").textContent = s; };

${OFFER_EXCHANGE_JS}
async function playWhep() {
  w.mode = "whep";
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  w.pc = pc;
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  pc.ontrack = (e) => { if (!video.srcObject) video.srcObject = e.streams[0] || new MediaStream([e.track]); else video.srcObject.addTrack(e.track); };
  pc.onconnectionstatechange = () => {
    setState(pc.connectionState);
    if (pc.connectionState === "failed") fallbackToHls("WebRTC connection failed");
  };
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  w.whepPostAt = Date.now();
  const { resourceUrl, answer } = await postOffer(BASE + "/whep/" + encodeURIComponent(STREAM), pc);
  w.resourceUrl = resourceUrl;
  await pc.setRemoteDescription({ type: "answer", sdp: answer });
}

async function fallbackToHls(reason) {
  if (w.mode === "hls") return;
  if (w.pc) { w.pc.close(); w.pc = null; }
  w.mode = "hls";
  w.error = reason || null;
  setState("hls");
  video.srcObject = null;
  const src = BASE + "/hls/" + encodeURIComponent(STREAM) + "/index.m3u8";
  // hls.js over MSE first: it does LL-HLS (parts, blocking reload). Native HLS only where there
  // is no MSE (iOS Safari); Chromium's own HLS player could not parse these fMP4 parts (156).
  // Players cannot answer a 401: ask once here, so a login (cookie) comes before hls.js starts.
  await authFetch(src).then((r) => r.body && r.body.cancel()).catch(() => undefined);
  const mse = "MediaSource" in window || "ManagedMediaSource" in window;
  if (!mse && video.canPlayType("application/vnd.apple.mpegurl")) { w.hlsPlayer = "native"; video.src = src; return; }
  await new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = BASE + "/assets/hls.min.js";
    s.onload = resolve; s.onerror = () => reject(new Error("hls.js did not load"));
    document.head.appendChild(s);
  });
  w.hlsPlayer = "hls.js";
  // A live monitor should catch up to the playlist's hold-back after a stall rather than stay
  // behind for good (hls.js plays at 1x by default: measured ~2 s behind PART-HOLD-BACK).
  const hls = new Hls({ lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5, debug: q.get("debug") === "1" });
  w.hls = hls;
  hls.loadSource(src);
  hls.attachMedia(video);
  hls.on(Hls.Events.ERROR, (_e, d) => {
    w.hlsErrors.push(d.details + (d.fatal ? " (fatal)" : ""));
    if (w.hlsErrors.length > 20) w.hlsErrors.shift();
    if (d.fatal) setState("hls error: " + d.details);
  });
}

// The first decoded frame, measured where the browser exposes it.
const onFrame = () => {
  if (!w.firstFrameAt && video.videoWidth > 0) w.firstFrameAt = Date.now();
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(onFrame);
};
if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(onFrame); else video.addEventListener("loadeddata", onFrame);

w.framesDecoded = () => (video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality().totalVideoFrames : 0);

function drawDetections(ev) {
  const ctx = overlay.getContext("2d");
  const rect = overlay.getBoundingClientRect();
  overlay.width = rect.width; overlay.height = rect.height;
  ctx.clearRect(0, 0, rect.width, rect.height);
  const fw = ev.frame.width, fh = ev.frame.height;
  // object-fit: contain — where the frame sits inside the element
  const scale = Math.min(rect.width / fw, rect.height / fh);
  const ox = (rect.width - fw * scale) / 2, oy = (rect.height - fh * scale) / 2;
  ctx.lineWidth = 2; ctx.font = "13px system-ui";
  for (const d of ev.analysis_results.detections) {
    if (!d.bbox) continue;
    ctx.strokeStyle = d.class_name === "qr_code" ? "#0f0" : "#fc0";
    ctx.fillStyle = ctx.strokeStyle;
    ctx.strokeRect(ox + d.bbox.x * scale, oy + d.bbox.y * scale, d.bbox.width * scale, d.bbox.height * scale);
    ctx.fillText(d.class_name + (d.attributes.payload ? " " + d.attributes.payload : ""), ox + d.bbox.x * scale, oy + d.bbox.y * scale - 4);
  }
  document.getElementById("detections").textContent = JSON.stringify(ev.analysis_results.detections.map((d) => d.class_name + (d.attributes.payload ? ": " + d.attributes.payload : "")), null, 1);
}

function showStats(s) {
  w.stats = s;
  const rows = [["live", s.live], ["resolution", s.width ? s.width + "x" + s.height : "-"], ["fps", s.fps], ["bitrate", s.bitrate_bps ? (s.bitrate_bps / 1e6).toFixed(2) + " Mbit/s" : "-"],
    ["packet loss", s.packet_loss_ratio !== undefined ? (100 * s.packet_loss_ratio).toFixed(2) + " %" : "-"], ["viewers", s.viewers], ["recording", s.recording],
    ["AI preset", s.ai ? s.ai.preset : "-"], ["ingest → result", s.latency_ms !== undefined ? s.latency_ms + " ms" : "-"], ["decoded here", w.framesDecoded()]];
  document.getElementById("stats").innerHTML = rows.map(([k, v]) => "<tr><td>" + k + "</td><td>" + (v === undefined ? "-" : v) + "</td></tr>").join("");
}

function telemetry() {
  const ws = new WebSocket((BASE ? BASE.replace(/^http/, "ws") : (location.protocol === "https:" ? "wss://" : "ws://") + location.host) + "/ws/streams/" + encodeURIComponent(STREAM));
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.type === "stream_stats") showStats(m);
    else if (m.type === "detections") { w.detections++; drawDetections(m); }
  };
  let opened = false;
  ws.onopen = () => { opened = true; };
  // A refused upgrade (401) is invisible to a WebSocket: after a failed open, ask the stream's
  // REST resource (same permission), which shows the login form on a 401, then try again.
  ws.onclose = () => setTimeout(() => (opened ? Promise.resolve() : authFetch(BASE + "/api/v1/streams/" + encodeURIComponent(STREAM)).catch(() => undefined)).then(telemetry), 2000);
}

window.addEventListener("pagehide", () => { if (w.resourceUrl) fetch(w.resourceUrl, { method: "DELETE", keepalive: true }); });
telemetry();
(q.get("hls") === "1" ? fallbackToHls() : playWhep()).catch((e) => fallbackToHls(String(e)));
</script>
</body>
</html>
`;
}
