import type { ChildProcess } from "node:child_process";
import { waitFor } from "./wait-for.js";

/**
 * True when gst-launch's only errors are rtspclientsink writes cancelled by rtspclientsink
 * itself, a race inside GStreamer 1.22, not a server fault (seen with GST_DEBUG=rtspclientsink:5):
 * at EOS and on the way to NULL it flushes its connection ("connection flush", a GCancellable)
 * while another thread is about to write, an RTP/RTCP frame or the PAUSE request; the write is
 * cancelled before a byte goes out, reported as "Could not send message. (Received
 * end-of-file)" from gst_rtsp_client_sink_try_send (and gst_rtsp_client_sink_pause), and
 * gst-launch exits 1. The connection stays up (a TEARDOWN sent after it is answered). Callers
 * still check the server's side: every frame recorded, the session ended by TEARDOWN or by the
 * client closing, nothing refused.
 */
export function onlyCancelledWrites(output: string): boolean {
  const errors = output.split("ERROR:").slice(1);
  const form = /^ from element \/GstPipeline:pipeline0\/GstRTSPClientSink:\w+: Could not write to resource\.\s+Additional debug info:\s+\S*gstrtspclientsink\.c\(\d+\): gst_rtsp_client_sink_(try_send|pause) \(\): [^\n]*\nCould not send message\. \(Received end-of-file\)/;
  return errors.length > 0 && errors.every((e) => form.test(e));
}

/**
 * Waits for gst-launch to exit. Under load GStreamer 1.22's rtspclientsink sometimes never
 * reaches EOS after its last buffer (no PAUSE, no TEARDOWN, gst-launch hangs; seen with
 * GST_DEBUG=rtspclientsink:5 about once in ten loaded runs), so once `delivered()` says the
 * server has everything, gst-launch gets `graceMs` more and is then killed: the server sees a
 * dropped connection, as from a camera that lost power. Resolves with the exit code, or
 * "killed".
 */
export async function exitOrKillWhenDelivered(
  child: ChildProcess,
  exited: Promise<number | null>,
  delivered: () => boolean,
  opts: { graceMs: number; timeoutMs: number },
): Promise<number | null | "killed"> {
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  await waitFor(() => exitCode !== undefined || delivered(), { timeoutMs: opts.timeoutMs, what: "gst-launch to exit or the server to have every frame" });
  if (exitCode !== undefined) return exitCode;
  const late = await Promise.race([exited, new Promise<"late">((resolve) => setTimeout(() => resolve("late"), opts.graceMs).unref())]);
  if (late !== "late") return late;
  child.kill("SIGKILL");
  await exited;
  return "killed";
}
