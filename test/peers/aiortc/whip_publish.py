#!/usr/bin/env python3
"""A WHIP publisher on aiortc, an independent WebRTC stack, for the tests (issue 12, point 3).

It publishes one H.264 video track that aiortc encodes itself (libx264 through PyAV) from a
synthetic moving picture, so that every frame costs a few packets and a lost packet matters.

Driven through stdin/stdout with JSON lines, so that the test decides when things happen instead
of guessing durations:
  stdout  {"event": "connected", "rtx": bool}   the ICE/DTLS transport is up; rtx: the answer
                                                 negotiated RTX (else a NACKed packet is resent as is)
          {"event": "stopped", ...counters}      after "stop": no more frames; what was sent
          {"event": "deleted", "status": int}    after "delete": the WHIP DELETE's status
  stdin   stop | delete
The counters are aiortc's own: frames and packets sent, NACK packets received and the sequence
numbers they named, and the packets resent for them (the NACK path is wrapped, not replaced).
With WHIP_PUBLISH_DEBUG set, the counters also go to stderr every 2 s.
"""

import argparse
import asyncio
import fractions
import json
import os
import sys
import time
import urllib.parse
import urllib.request

import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription, VideoStreamTrack
from aiortc.rtp import RTCP_RTPFB_NACK, RTP_HISTORY_SIZE, RtcpRtpfbPacket

COUNTERS = {"framesSent": 0, "nackPackets": 0, "nackedSeqs": 0, "retransmitted": 0, "retransmitMisses": 0}


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def count_nack_path() -> None:
    """Counts NACKs and resends by wrapping aiortc's own handlers (behaviour unchanged)."""
    handle = RTCRtpSender._handle_rtcp_packet
    retransmit = RTCRtpSender._retransmit
    next_frame = RTCRtpSender._next_encoded_frame

    async def counted_handle(self: RTCRtpSender, packet: object) -> None:
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            COUNTERS["nackPackets"] += 1
            COUNTERS["nackedSeqs"] += len(packet.lost)
        await handle(self, packet)

    async def counted_retransmit(self: RTCRtpSender, sequence_number: int) -> None:
        history = getattr(self, "_RTCRtpSender__rtp_history")
        kept = history.get(sequence_number % RTP_HISTORY_SIZE)
        if kept is not None and kept.sequence_number == sequence_number:
            COUNTERS["retransmitted"] += 1
        else:
            COUNTERS["retransmitMisses"] += 1
        await retransmit(self, sequence_number)

    async def counted_next_frame(self: RTCRtpSender, codec: object) -> object:
        frame = await next_frame(self, codec)
        if frame is not None:
            COUNTERS["framesSent"] += 1
        return frame

    RTCRtpSender._handle_rtcp_packet = counted_handle  # type: ignore[method-assign]
    RTCRtpSender._retransmit = counted_retransmit  # type: ignore[method-assign]
    RTCRtpSender._next_encoded_frame = counted_next_frame  # type: ignore[method-assign]


class MovingPicture(VideoStreamTrack):
    """Bars that scroll with a small patch of fresh noise: some motion and some detail, as from a
    camera, so that a frame costs a few packets and an IDR many, without the encoder's whole
    bitrate going to noise (which also keeps aiortc's event loop, which answers NACKs, unloaded)."""

    PATCH = 96

    def __init__(self, width: int, height: int, fps: int) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self.index = 0
        self.stopped = False
        self.start = 0.0
        self.row = bytes((x * 3) & 255 for x in range(width * 2))
        self.chroma = bytes([128]) * (width // 2 * height // 2)

    async def recv(self) -> av.VideoFrame:
        # paced by its own clock at `fps` (VideoStreamTrack's next_timestamp is fixed at 30 fps)
        if self.index == 0:
            self.start = time.monotonic()
        else:
            wait = self.start + self.index / self.fps - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        while self.stopped:
            await asyncio.sleep(3600)
        w, h, p = self.width, self.height, self.PATCH
        shift = (self.index * 4) % w
        luma = bytearray(self.row[shift : shift + w] * h)
        top = (self.index * 2) % (h - p)
        left = (self.index * 5) % (w - p)
        noise = os.urandom(p * p)
        for y in range(p):
            start = (top + y) * w + left
            luma[start : start + p] = noise[y * p : (y + 1) * p]
        frame = av.VideoFrame(w, h, "yuv420p")
        frame.planes[0].update(bytes(luma))
        frame.planes[1].update(self.chroma)
        frame.planes[2].update(self.chroma)
        frame.pts = self.index * (90000 // self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        self.index += 1
        return frame


def http(method: str, url: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.read(), dict(res.headers.items())
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers.items())


async def read_command(reader: asyncio.StreamReader) -> str:
    line = await reader.readline()
    return line.decode().strip() if line else "eof"


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", help="the WHIP endpoint")
    ap.add_argument("--token", help="bearer token for the Authorization header")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--max-seconds", type=float, default=120, help="ends by itself after this long, whatever stdin says")
    args = ap.parse_args()

    count_nack_path()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    # no ICE server: aiortc would otherwise add a public STUN server (a closed network here)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    track = MovingPicture(args.width, args.height, args.fps)
    transceiver = pc.addTransceiver(track, direction="sendonly")
    caps = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences([c for c in caps if c.mimeType in ("video/H264", "video/rtx")])
    connected = asyncio.Event()

    @pc.on("connectionstatechange")
    def on_state() -> None:
        if pc.connectionState == "connected":
            connected.set()

    await pc.setLocalDescription(await pc.createOffer())
    headers = {"Content-Type": "application/sdp"}
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    status, body, res_headers = await loop.run_in_executor(None, http, "POST", args.url, pc.localDescription.sdp.encode(), headers)
    if status != 201:
        emit("error", status=status, body=body.decode(errors="replace"))
        await pc.close()
        return 1
    answer = body.decode()
    location = urllib.parse.urljoin(args.url, res_headers.get("Location") or res_headers.get("location") or "")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await asyncio.wait_for(connected.wait(), timeout=20)
    emit("connected", rtx="rtx/90000" in answer)

    deadline = loop.time() + args.max_seconds
    if os.environ.get("WHIP_PUBLISH_DEBUG"):
        async def debug() -> None:
            while True:
                await asyncio.sleep(2)
                print(json.dumps(COUNTERS), file=sys.stderr, flush=True)
        debug_task = asyncio.ensure_future(debug())  # noqa: F841 (kept referenced: runs until exit)
    command = ""
    while command not in ("stop", "eof") and loop.time() < deadline:
        try:
            command = await asyncio.wait_for(read_command(reader), timeout=max(0.1, deadline - loop.time()))
        except asyncio.TimeoutError:
            break
    track.stopped = True
    stats = await transceiver.sender.getStats()
    out = next((s for s in stats.values() if s.type == "outbound-rtp"), None)
    emit("stopped", packetsSent=getattr(out, "packetsSent", 0), **COUNTERS)

    while command not in ("delete", "eof") and loop.time() < deadline:
        try:
            command = await asyncio.wait_for(read_command(reader), timeout=max(0.1, deadline - loop.time()))
        except asyncio.TimeoutError:
            break
    status, _, _ = await loop.run_in_executor(None, http, "DELETE", location, None, {k: v for k, v in headers.items() if k == "Authorization"})
    await pc.close()
    emit("deleted", status=status)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
