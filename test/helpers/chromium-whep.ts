import type { Page } from "playwright-core";

/** What Chromium's own WHEP exchange gave (status and SDPs). */
export interface BrowserWatch {
  status: number;
  answer: string;
  offer: string;
  /** Epoch ms (the page's clock is the machine's) when the POST was sent. */
  postAt: number;
  error?: string;
}

/** A Chromium viewer's progress, read from its page. */
export interface BrowserFrames {
  /** Frames rendered (requestVideoFrameCallback). */
  rendered: number;
  /** inbound-rtp framesDecoded. */
  decoded: number;
  /** Epoch ms of the first rendered frame (null before it). */
  firstFrameAt: number | null;
  /** For the newest rendered frame: presentation time minus its receive time (ms), the playout delay. */
  playoutDelayMs: number | null;
  freezeCount: number;
  nackCount: number;
  packetsLost: number;
}

// Page-side code as plain JavaScript (the project compiles without DOM types).
const WATCH_JS = `async (url) => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", { direction: "recvonly" });
  const video = document.createElement("video");
  video.muted = true;
  video.autoplay = true;
  document.body.appendChild(video);
  globalThis.__w = { frames: 0, first: null, delay: null, pc };
  pc.ontrack = (ev) => {
    video.srcObject = new MediaStream([ev.track]);
    const count = (_now, meta) => {
      globalThis.__w.frames++;
      globalThis.__w.first ??= Date.now();
      if (meta.receiveTime !== undefined) globalThis.__w.delay = meta.presentationTime - meta.receiveTime;
      video.requestVideoFrameCallback(count);
    };
    video.requestVideoFrameCallback(count);
    void video.play();
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") resolve();
    pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === "complete") resolve(); };
  });
  const offer = pc.localDescription.sdp;
  const postAt = Date.now();
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/sdp" }, body: offer });
  const answer = await res.text();
  if (res.status !== 201) return { status: res.status, answer, offer, postAt };
  try {
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
  } catch (err) {
    return { status: res.status, answer, offer, postAt, error: String(err) };
  }
  return { status: res.status, answer, offer, postAt };
}`;

const FRAMES_JS = `(async () => {
  const w = globalThis.__w;
  const out = { rendered: w.frames, decoded: 0, firstFrameAt: w.first, playoutDelayMs: w.delay, freezeCount: 0, nackCount: 0, packetsLost: 0 };
  (await w.pc.getStats()).forEach((s) => {
    if (s.type !== "inbound-rtp" || s.kind !== "video") return;
    out.decoded = s.framesDecoded ?? 0;
    out.freezeCount = s.freezeCount ?? 0;
    out.nackCount = s.nackCount ?? 0;
    out.packetsLost = s.packetsLost ?? 0;
  });
  return out;
})()`;

/**
 * Chromium's own WHEP client, in a page of the server's origin (same-origin fetch): POSTs a
 * recvonly video offer (non-trickle), plays what comes in a muted <video>, and counts frames
 * with requestVideoFrameCallback. Read progress with `browserFrames`.
 */
export async function watchInChromium(page: Page, whepUrl: string): Promise<BrowserWatch> {
  return (await page.evaluate(`(${WATCH_JS})(${JSON.stringify(whepUrl)})`)) as BrowserWatch;
}

export async function browserFrames(page: Page): Promise<BrowserFrames> {
  return (await page.evaluate(FRAMES_JS)) as BrowserFrames;
}

/** Closes the page's PeerConnection (the server sees the viewer go by ICE/DTLS, or its idle timeout). */
export async function closeChromiumWatch(page: Page): Promise<void> {
  await page.evaluate("globalThis.__w?.pc.close()");
}
