import { Counter, Registry } from "prom-client";
import type { StreamRegistry } from "../core/stream-registry.js";
import type { DecoderManager } from "../extractor/decoder-manager.js";
import type { Recorder } from "../recorder/recorder.js";

export interface DropSources {
  registry: StreamRegistry;
  /** Recordings' breaks (units dropped while waiting for an IDR after a loss). */
  recorder: Pick<Recorder, "breakStats">;
  /** The AI feed's decoders (absent with IFC_AI_ENABLED=false). */
  decoders?: Pick<DecoderManager, "allStats"> | undefined;
}

type Labels = Record<string, string>;

/** A counter read at scrape time from a cumulative figure the service keeps (see metrics.ts). */
function readCounter(reg: Registry, name: string, help: string, labelNames: string[], read: (add: (labels: Labels, n: number) => void) => void): void {
  new Counter({
    name, help, labelNames, registers: [reg],
    collect() {
      this.reset();
      read((labels, n) => this.inc(labels, n));
    },
  });
}

/**
 * The media path's drops that /metrics did not show yet, so that none is silent under load:
 * units ingest gave up on, kernel drops at each publisher's sockets (WHIP and RTSP alike),
 * recording breaks, and the AI decoders' drops by reason. Read at scrape time only.
 */
export function dropMetrics(src: DropSources): Registry {
  const reg = new Registry();
  const live = (): ReturnType<StreamRegistry["list"]> => src.registry.list();
  readCounter(reg, "ifc_stream_frames_dropped_total", "Access units ingest dropped incomplete (a packet still missing past IFC_REORDER_WINDOW_PACKETS), per live stream", ["stream"], (add) => {
    for (const s of live()) add({ stream: s.name }, s.stats().framesDropped);
  });
  readCounter(reg, "ifc_stream_socket_drops_total", "Datagrams the kernel dropped at a live stream's publisher sockets (receive buffer full: IFC_RTC_RECV_BUFFER_BYTES, IFC_RTSP_UDP_RECV_BUFFER_BYTES; WHIP and RTSP over UDP). Linux only", ["stream"], (add) => {
    for (const s of live()) {
      const drops = s.stats().socketDrops;
      if (drops !== undefined) add({ stream: s.name }, drops);
    }
  });
  readCounter(reg, "ifc_recording_breaks_total", "Breaks in recordings (frames lost before the recorder, or a discontinuity) since start; each resumes at the next IDR", [], (add) => add({}, src.recorder.breakStats().gaps));
  readCounter(reg, "ifc_recording_frames_dropped_total", "Video units a recording skipped after a break while waiting for the next IDR, since start", [], (add) => add({}, src.recorder.breakStats().droppedAtBreaks));
  const decoders = src.decoders;
  if (decoders) {
    readCounter(reg, "ifc_decoder_units_dropped_total", "Units the AI feed's decoder of a live stream did not decode, by reason: hub_queue (its reader queue was full), waiting_for_idr, backpressure (ffmpeg's stdin full), bad_parameter_sets, unpaired_frames, format_mismatch", ["stream", "reason"], (add) => {
      for (const d of decoders.allStats()) {
        const r = d.dropped;
        const by: Record<string, number> = {
          hub_queue: r.hubQueue, waiting_for_idr: r.waitingForIdr, backpressure: r.backpressure,
          bad_parameter_sets: r.badParameterSets, unpaired_frames: r.unpairedFrames, format_mismatch: r.formatMismatch,
        };
        for (const [reason, n] of Object.entries(by)) add({ stream: d.stream, reason }, n);
      }
    });
  }
  return reg;
}
