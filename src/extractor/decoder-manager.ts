import type { Logger } from "pino";
import type { LiveStream, StreamRegistry } from "../core/stream-registry.js";
import { ConflictError } from "../errors.js";
import type { DecodedFrameConsumer, DecodedPixelFormat, OutputSpec } from "./decoded-frame.js";
import { StreamDecoder, validateOutputSpec, type StreamDecoderOptions, type StreamDecoderStats } from "./stream-decoder.js";

export type DecoderManagerOptions = StreamDecoderOptions;

export interface DecoderSubscription {
  readonly stream: string;
  /** Changes this consumer's wishes; the stream's decoder follows the new combined spec. */
  setSpec(spec: OutputSpec): void;
  unsubscribe(): void;
}

interface Sub {
  consumer: DecodedFrameConsumer;
  spec: OutputSpec;
  /** Detaches from the current decoder (undefined while the stream is not live). */
  detach: (() => void) | undefined;
}

interface Active {
  live: LiveStream;
  decoder: StreamDecoder;
}

/**
 * Decode once: at most one StreamDecoder (one ffmpeg) per live stream, whatever the number of
 * consumers. A decoder is created when a stream has both a consumer and a live publisher, and
 * closed when its last consumer leaves or the stream ends. Subscriptions are by stream NAME and
 * outlive a publisher: when the camera reconnects, a new decoder starts for the same consumers
 * (from the new stream's first IDR).
 *
 * Several consumers of one stream share one output, the MAXIMUM of their specs: the highest
 * fps and maxHeight, rgb24 when gray8 and rgb24 are mixed (gray8 consumers get it converted in
 * Node). Each consumer's own sampler then keeps its own rate; a consumer that asked for fewer
 * rows gets the larger frames (rescaling in Node would cost more than it saves). JPEG and raw
 * consumers cannot share one decoder output: such a subscription is refused (409).
 */
export class DecoderManager {
  private readonly subs = new Map<string, Set<Sub>>();
  private readonly active = new Map<string, Active>();
  private readonly closing = new Set<Promise<void>>();
  private readonly closingDecoders = new Set<StreamDecoder>();
  private readonly log: Logger;

  constructor(
    private readonly registry: StreamRegistry,
    private readonly opts: DecoderManagerOptions,
  ) {
    this.log = opts.log.child({ component: "decoder-manager" });
    registry.onStarted((s) => this.ensureDecoder(s.name));
    registry.onEnded((s) => this.onEnded(s));
  }

  subscribe(stream: string, consumer: DecodedFrameConsumer, spec: OutputSpec): DecoderSubscription {
    validateOutputSpec(spec);
    const set = this.subs.get(stream) ?? new Set<Sub>();
    combinedSpec([...[...set].map((s) => s.spec), spec]); // throws on a JPEG/raw mix
    const sub: Sub = { consumer, spec: { ...spec }, detach: undefined };
    set.add(sub);
    this.subs.set(stream, set);
    const a = this.active.get(stream);
    if (a) {
      a.decoder.setOutput(combinedSpec([...set].map((s) => s.spec)));
      this.attach(a.decoder, sub);
    } else {
      this.ensureDecoder(stream);
    }
    let done = false;
    return {
      stream,
      setSpec: (next) => {
        if (done) return;
        validateOutputSpec(next);
        combinedSpec([...[...set].filter((s) => s !== sub).map((s) => s.spec), next]);
        sub.spec = { ...next };
        const cur = this.active.get(stream);
        if (cur) {
          cur.decoder.setOutput(combinedSpec([...set].map((s) => s.spec)));
          sub.detach?.();
          this.attach(cur.decoder, sub);
        }
      },
      unsubscribe: () => {
        if (done) return;
        done = true;
        sub.detach?.();
        set.delete(sub);
        const cur = this.active.get(stream);
        if (set.size === 0) {
          this.subs.delete(stream);
          if (cur) this.retire(stream, cur.decoder, false);
        } else if (cur) {
          cur.decoder.setOutput(combinedSpec([...set].map((s) => s.spec)));
        }
      },
    };
  }

  /** Stats of a stream's running decoder. */
  stats(stream: string): StreamDecoderStats | undefined {
    return this.active.get(stream)?.decoder.stats();
  }

  /** Stats of every running decoder. */
  allStats(): StreamDecoderStats[] {
    return [...this.active.values()].map((a) => a.decoder.stats());
  }

  /** The pids of every ffmpeg this manager's decoders have not seen exit (running or closing). */
  pids(): number[] {
    const out: number[] = [];
    for (const d of [...[...this.active.values()].map((a) => a.decoder), ...this.closingDecoders]) out.push(...d.stats().livePids);
    return out;
  }

  /** Closes every decoder (server shutdown); subscriptions stay but no decoder starts again. */
  async close(): Promise<void> {
    for (const [name, a] of [...this.active]) this.retire(name, a.decoder, false);
    this.subs.clear();
    await Promise.all([...this.closing]);
  }

  private ensureDecoder(stream: string): void {
    const set = this.subs.get(stream);
    if (!set || set.size === 0 || this.active.has(stream)) return;
    const live = this.registry.get(stream);
    if (!live || live.hub.isClosed) return; // starts when the stream does (onStarted)
    const decoder = new StreamDecoder(live.hub, combinedSpec([...set].map((s) => s.spec)), this.opts);
    this.active.set(stream, { live, decoder });
    for (const sub of set) this.attach(decoder, sub);
  }

  private attach(decoder: StreamDecoder, sub: Sub): void {
    sub.detach = decoder.subscribe(sub.consumer, { fps: sub.spec.fps, format: sub.spec.format });
  }

  private onEnded(stream: LiveStream): void {
    const a = this.active.get(stream.name);
    if (!a || a.live !== stream) return;
    // The decoder flushes what the hub still holds (it listens to the hub's close itself).
    this.retire(stream.name, a.decoder, true);
    for (const sub of this.subs.get(stream.name) ?? []) sub.detach = undefined;
  }

  private retire(stream: string, decoder: StreamDecoder, flush: boolean): void {
    if (this.active.get(stream)?.decoder === decoder) this.active.delete(stream);
    this.closingDecoders.add(decoder);
    const p = decoder
      .close({ flush })
      .catch((err: unknown) => this.log.error({ stream, err: (err as Error).message }, "decoder close failed"))
      .finally(() => {
        this.closing.delete(p);
        this.closingDecoders.delete(decoder);
      });
    this.closing.add(p);
  }
}

const RAW_ORDER: Record<Exclude<DecodedPixelFormat, "jpeg">, number> = { gray8: 0, rgb24: 1 };

/** The one output that serves every spec (see DecoderManager). Throws a 409 for a JPEG/raw mix. */
export function combinedSpec(specs: readonly OutputSpec[]): OutputSpec {
  const first = specs[0];
  if (!first) throw new RangeError("no spec");
  let fps = 0;
  let maxHeight = 0;
  let format: DecodedPixelFormat = first.format;
  for (const s of specs) {
    fps = Math.max(fps, s.fps);
    maxHeight = Math.max(maxHeight, s.maxHeight);
    if (s.format === format) continue;
    if (s.format === "jpeg" || format === "jpeg") {
      throw new ConflictError("one stream's decoder cannot output JPEG and raw frames at once", "decoder-format-conflict");
    }
    format = RAW_ORDER[s.format] > RAW_ORDER[format] ? s.format : format;
  }
  return { fps, maxHeight, format };
}
