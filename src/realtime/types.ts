import type { ChatMessage, ErrorCode, EventOf, RoomSummary } from '../../amplify/core/protocol';

/**
 * connecting: first attempt since start(); online: socket open;
 * reconnecting: lost it and retrying on a backoff; offline: not trying
 * (stopped, or the browser says there is no network).
 */
export type ConnectionState = 'connecting' | 'online' | 'reconnecting' | 'offline';

/**
 * Failures the client detects itself, before or instead of a server reply.
 * `queue_full`: too many messages or requests already wait (see ChatSocketOptions
 * maxOutbox and maxQueuedRequests); nothing was queued, so try again later.
 */
export type LocalErrorCode = 'frame_too_large' | 'text_too_long' | 'empty' | 'not_joined' | 'disconnected' | 'timeout' | 'stopped' | 'queue_full';

export interface ClientError {
  code: ErrorCode | LocalErrorCode;
  message: string;
  retryAfterMs?: number;
}

export class ChatError extends Error implements ClientError {
  constructor(
    readonly code: ErrorCode | LocalErrorCode,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ChatError';
  }
}

/** The part of the browser WebSocket API the client uses; `ws` in Node satisfies it too. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = (url: string) => WebSocketLike;

export type MessageSource = 'live' | 'initial' | 'catchup' | 'older';

export interface ChatSocketEvents {
  state: ConnectionState;
  /** Messages the app has not been given before (older pages may repeat; merge by seq). */
  messages: { room: string; messages: ChatMessage[]; source: MessageSource; hasMore?: boolean };
  /** The room was too far behind to catch up; drop what is shown and start from the pages that follow. */
  reset: { room: string };
  ack: { room: string; clientMsgId: string; seq: number; id: string; ts: number };
  sendfailed: { room: string; clientMsgId: string; error: ClientError };
  joined: EventOf<'joined'>;
  /** A room could not be joined again (deleted, or access lost) and is no longer followed. */
  joinfailed: { room: string; error: ClientError };
  left: { room: string };
  presence: EventOf<'presence'>;
  typing: EventOf<'typing'>;
  rooms: RoomSummary[];
  /** Server errors tied to nothing the client tracks. */
  error: ClientError;
}
