import { OFFER_EXCHANGE_JS } from "./offer-exchange-js.js";

/**
 * `/publish/{stream}`: publishes the browser's camera and microphone to `/whip/{stream}`
 * (H.264 packetization-mode 1, which the server records without re-encoding). Plain HTML and a
 * script: no build step. State for tests and scripts lives on `window.__whip`.
 * `?video=0` / `?audio=0` leave a track out; `?autostart=0` waits for the button.
 */
export function publishPage(stream: string, base = ""): string {
  const name = JSON.stringify(stream);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Publish ${stream} — ImageFlowCanvas Ingest</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 16px; background: #111; color: #ddd; }
  video { width: 100%; max-width: 640px; background: #000; display: block; margin-bottom: 8px; }
  button { font-size: 16px; padding: 6px 16px; }
  #state { font-weight: bold; }
</style>
</head>
<body>
<h3>Publishing <code>${stream}</code> — <span id="state">new</span></h3>
<video id="preview" autoplay muted playsinline></video>
<button id="start">Start</button> <button id="stop" disabled>Stop</button>
<a href="${base}/streams/${stream}" target="_blank">watch</a>
<pre id="log"></pre>
<script>
"use strict";
const STREAM = ${name};
const BASE = ${JSON.stringify(base)}; // IFC_PUBLIC_URL, or "" for this page's origin
const q = new URLSearchParams(location.search);
const whip = { state: "new", error: null, resourceUrl: null, postSentAt: null, connectedAt: null, pc: null };
window.__whip = whip;
const log = (m) => { document.getElementById("log").textContent += new Date().toISOString() + " " + m + "\\n"; };
const setState = (s) => { whip.state = s; document.getElementById("state").textContent = s; };

${OFFER_EXCHANGE_JS}
async function start() {
  document.getElementById("start").disabled = true;
  const media = await navigator.mediaDevices.getUserMedia({
    video: q.get("video") !== "0" ? { width: 1280, height: 720, frameRate: 30 } : false,
    audio: q.get("audio") !== "0",
  });
  document.getElementById("preview").srcObject = media;
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  whip.pc = pc;
  for (const track of media.getTracks()) {
    const t = pc.addTransceiver(track, { direction: "sendonly" });
    if (track.kind === "video") {
      // H.264 only: the server records the publisher's own bitstream, never re-encodes.
      const h264 = RTCRtpReceiver.getCapabilities("video").codecs.filter((c) => c.mimeType.toLowerCase() === "video/h264" && /packetization-mode=1/.test(c.sdpFmtpLine || ""));
      if (h264.length === 0) throw new Error("this browser has no H.264 encoder (packetization-mode=1)");
      t.setCodecPreferences(h264);
    }
  }
  pc.onconnectionstatechange = () => {
    setState(pc.connectionState);
    if (pc.connectionState === "connected" && !whip.connectedAt) whip.connectedAt = Date.now();
  };
  setState("gathering");
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  whip.postSentAt = Date.now();
  const { resourceUrl, answer } = await postOffer(BASE + "/whip/" + encodeURIComponent(STREAM), pc);
  whip.resourceUrl = resourceUrl;
  await pc.setRemoteDescription({ type: "answer", sdp: answer });
  setState("connecting");
  document.getElementById("stop").disabled = false;
}

whip.stop = async () => {
  const target = whip.resourceUrl;
  whip.resourceUrl = null;
  try {
    if (target) await authFetch(target, { method: "DELETE" });
  } finally {
    if (whip.pc) whip.pc.close();
    setState("closed");
    document.getElementById("start").disabled = false;
    document.getElementById("stop").disabled = true;
  }
};

const run = () => start().catch((e) => { whip.error = String(e); setState("failed"); log(String(e)); document.getElementById("start").disabled = false; });
document.getElementById("start").onclick = run;
document.getElementById("stop").onclick = () => whip.stop();
window.addEventListener("pagehide", () => { if (whip.resourceUrl) fetch(whip.resourceUrl, { method: "DELETE", keepalive: true }); });
if (q.get("autostart") !== "0") run();
</script>
</body>
</html>
`;
}
