/**
 * True when gst-launch's only errors are rtspclientsink's PAUSE cancelled at teardown, a race
 * inside GStreamer 1.22, not a server fault: gst-launch sets the pipeline to NULL right after
 * EOS, rtspclientsink's CLOSE command flushes its connection while the PAUSE command is about to
 * write, the write is cancelled before a byte goes out and is reported as "Received end-of-file"
 * (from gst_rtsp_client_sink_try_send, then from gst_rtsp_client_sink_pause), and gst-launch
 * exits 1. The TEARDOWN that follows goes out on the same connection and is answered. Callers
 * still check the server's side (all media recorded, the session or stream ended by TEARDOWN).
 */
export function onlyPauseCancelled(output: string): boolean {
  // Without -q gst-launch says when it stops; an error before that is something else.
  const atNull = output.indexOf("Setting pipeline to NULL");
  if (atNull > 0 && output.slice(0, atNull).includes("ERROR:")) return false;
  const errors = output.slice(Math.max(0, atNull)).split("ERROR:").slice(1);
  const form = /^ from element \/GstPipeline:pipeline0\/GstRTSPClientSink:\w+: Could not write to resource\.\s+Additional debug info:\s+\S*gstrtspclientsink\.c\(\d+\): gst_rtsp_client_sink_(try_send|pause) \(\): [^\n]*\nCould not send message\. \(Received end-of-file\)/;
  return errors.length > 0 && errors.every((e) => form.test(e)) && errors.some((e) => e.includes("gst_rtsp_client_sink_pause ("));
}
