/**
 * Requests that expect one reply, matched by reqId: joins, history pages,
 * room lists, creates. Each is in one of three states, and the tracker only
 * moves frames; what a reply means is the caller's business.
 */
import type { ClientActionInput, EventOf, ServerEvent, ServerEventType } from '../../amplify/core/protocol';
import { MAX_RETRIES, RETRYABLE } from './backoff';
import { ChatError } from './types';

/**
 * queued: waiting for an open socket (asked while offline, or put back after a drop);
 * sent: on the wire, its timeout running;
 * backoff: refused for now (rate_limited…), sent again when its timer fires.
 */
export type RequestState = 'queued' | 'sent' | 'backoff';

export interface RequestOptions {
  /** Safe to send again after a reconnect (reads); otherwise it fails with `disconnected`. */
  resend?: boolean;
  /** Asked again by the client itself after every reconnect (joins, catch-up): never failed by a full queue, never kept for the next socket once sent. */
  reissued?: boolean;
}

interface PendingRequest {
  action: ClientActionInput['action'];
  frame: string;
  expect: ServerEventType;
  resolve: (e: ServerEvent) => void;
  reject: (e: ChatError) => void;
  resend: boolean;
  reissued: boolean;
  state: RequestState;
  retries: number;
  timer?: ReturnType<typeof setTimeout>;
}

export interface RequestTrackerOptions {
  /** Sends one frame if the socket is open; false keeps the request queued. */
  send: (frame: string) => boolean;
  newId: () => string;
  timeoutMs: number;
  /** How long to wait before retry `attempt`, unless the server said (`retryAfterMs`). */
  retryDelay: (attempt: number, hintMs?: number) => number;
  /** Requests of the app's (not reissued) that may wait for a socket at once. */
  maxQueued: number;
}

export class RequestTracker {
  /** In the order asked, which is the order queued ones go out in. */
  private readonly pending = new Map<string, PendingRequest>();

  constructor(private readonly opts: RequestTrackerOptions) {}

  /**
   * Sends `action` with a fresh reqId now, or as soon as a socket opens. Rejects
   * with `queue_full` rather than queue past maxQueued while offline.
   */
  request<T extends ServerEventType>(action: ClientActionInput, expect: T, frame: (reqId: string) => string, opts: RequestOptions = {}): Promise<EventOf<T>> {
    return new Promise<EventOf<T>>((resolve, reject) => {
      const reqId = this.opts.newId();
      const req: PendingRequest = {
        action: action.action,
        frame: frame(reqId),
        expect,
        resolve: resolve as (e: ServerEvent) => void,
        reject,
        resend: opts.resend ?? false,
        reissued: opts.reissued ?? false,
        state: 'queued',
        retries: 0,
      };
      if (this.transmit(reqId, req)) {
        this.pending.set(reqId, req);
        return;
      }
      if (!req.reissued && this.queuedByApp() >= this.opts.maxQueued) {
        return reject(new ChatError('queue_full', `${this.opts.maxQueued} requests are already waiting for the connection; try again once it is back.`));
      }
      this.pending.set(reqId, req);
    });
  }

  /** The action a pending request asked for, e.g. to know that a `joined` answers a `createroom`. */
  actionOf(reqId: string): ClientActionInput['action'] | undefined {
    return this.pending.get(reqId)?.action;
  }

  /** Routes a reply to the request that asked for it; true when one did. */
  answer(event: ServerEvent): boolean {
    const reqId = 'reqId' in event ? event.reqId : undefined;
    const req = reqId ? this.pending.get(reqId) : undefined;
    if (!reqId || !req) return false;
    if (event.type === 'error') {
      if (RETRYABLE.has(event.code) && req.retries < MAX_RETRIES) {
        req.retries++;
        clearTimeout(req.timer);
        req.state = 'backoff';
        req.timer = setTimeout(() => {
          req.timer = undefined;
          if (!this.transmit(reqId, req)) req.state = 'queued';
        }, this.opts.retryDelay(req.retries, event.retryAfterMs));
        return true;
      }
      this.settle(reqId, new ChatError(event.code, event.message, event.retryAfterMs));
      return true;
    }
    if (event.type !== req.expect) return false;
    this.settle(reqId, event);
    return true;
  }

  /** A socket opened: everything queued goes, in the order asked. */
  flush(): void {
    for (const [reqId, req] of this.pending) {
      if (req.state === 'queued' && !this.transmit(reqId, req)) return;
    }
  }

  /** The socket dropped: reads go again on the next one; anything else may or may not have happened, so it fails. */
  disconnected(): void {
    for (const [reqId, req] of this.pending) {
      if (req.state === 'queued') continue;
      clearTimeout(req.timer);
      req.timer = undefined;
      if (req.resend) req.state = 'queued';
      else this.settle(reqId, new ChatError('disconnected', 'The connection dropped before the server answered.'));
    }
  }

  /**
   * The server refused this request unperformed because the session ended: it
   * goes again on the next socket, unless the client reissues it anyway.
   * False when the reqId is not one of ours.
   */
  sessionEnded(reqId: string | undefined): boolean {
    const req = reqId ? this.pending.get(reqId) : undefined;
    if (!reqId || !req) return false;
    clearTimeout(req.timer);
    req.timer = undefined;
    if (req.reissued) this.settle(reqId, new ChatError('disconnected', 'The session ended before the server answered.'));
    else req.state = 'queued';
    return true;
  }

  /** Fails everything pending. */
  stop(error: ChatError): void {
    for (const reqId of [...this.pending.keys()]) this.settle(reqId, error);
  }

  private queuedByApp(): number {
    let n = 0;
    for (const req of this.pending.values()) if (req.state === 'queued' && !req.reissued) n++;
    return n;
  }

  private transmit(reqId: string, req: PendingRequest): boolean {
    if (!this.opts.send(req.frame)) return false;
    req.state = 'sent';
    clearTimeout(req.timer);
    req.timer = setTimeout(() => this.settle(reqId, new ChatError('timeout', 'The server did not answer in time.')), this.opts.timeoutMs);
    return true;
  }

  private settle(reqId: string, outcome: ServerEvent | ChatError): void {
    const req = this.pending.get(reqId);
    if (!req) return;
    clearTimeout(req.timer);
    this.pending.delete(reqId);
    if (outcome instanceof ChatError) req.reject(outcome);
    else req.resolve(outcome);
  }
}
