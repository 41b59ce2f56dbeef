/**
 * One room's read position on the server, and the `read` frames that move it.
 * The app may say "read up to n" on every message it shows; at most one frame
 * is in flight per room, and while it is, only the latest wish is kept. A seq
 * the server already holds (or a lower one: markers only move forward) sends
 * nothing.
 *
 * idle: nothing to send (or nowhere to send it: the room is not seated);
 * inflight: a read is on the wire, a newer wish (if any) waits in `wanted`.
 */
import { ChatError } from './types';

export interface ReadMarkerOptions {
  /** Sends `read {room, seq}`; resolves with the marker the server stored. */
  send: (seq: number) => Promise<number>;
  /** True when the room is seated on an open socket, the only time a read may go. */
  canSend: () => boolean;
}

export class ReadMarker {
  /** The server's marker, as last heard (synced, joined, read). */
  acked = 0;
  private inflight: number | undefined;
  private wanted: number | undefined;

  constructor(private readonly opts: ReadMarkerOptions) {}

  /** The app has shown everything up to `seq`. */
  mark(seq: number): void {
    if (seq <= Math.max(this.acked, this.inflight ?? 0, this.wanted ?? 0)) return;
    this.wanted = seq;
    this.pump();
  }

  /** The server told us its marker (a reply, or a read elsewhere): anything at or below it is done. */
  acknowledged(seq: number): void {
    if (seq > this.acked) this.acked = seq;
    if (this.wanted !== undefined && this.wanted <= this.acked) this.wanted = undefined;
  }

  /** Sends the latest wish, unless one is in flight or the room cannot take it now. */
  pump(): void {
    const seq = this.wanted;
    if (seq === undefined || this.inflight !== undefined || !this.opts.canSend()) return;
    this.wanted = undefined;
    this.inflight = seq;
    this.opts.send(seq).then(
      (stored) => {
        this.inflight = undefined;
        this.acknowledged(stored);
        this.pump();
      },
      (err: unknown) => {
        this.inflight = undefined;
        // A dropped socket or a slow answer: keep the wish for the next seat. A refusal (not a member, past the room's end) ends it.
        const code = err instanceof ChatError ? err.code : 'internal';
        if ((code === 'disconnected' || code === 'timeout') && (this.wanted === undefined || this.wanted < seq)) this.wanted = seq;
        if (code === 'timeout') this.pump();
      },
    );
  }
}
