import type { ChatMessage, ErrorCode, EventOf, MyRoom, RoomChange, RoomSummary, UserRef } from '../../amplify/core/protocol';

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
  /** The room's home region cannot be reached: the message stays queued and goes again by itself (same clientMsgId). */
  sendwaiting: { room: string; clientMsgId: string; error: ClientError };
  joined: EventOf<'joined'>;
  /** A room could not be joined again (deleted, or access lost) and is no longer followed. */
  joinfailed: { room: string; error: ClientError };
  left: { room: string };
  presence: EventOf<'presence'>;
  typing: EventOf<'typing'>;
  rooms: RoomSummary[];
  /** One page of this user's rooms, each now seated on this socket, with its read position. */
  synced: { rooms: MyRoom[] };
  /** The read position moved: the reply to markRead, or a read on another of this user's sockets. */
  /** `unread` as the server counted it up to `lastSeq`. */
  read: { room: string; seq: number; unread: number; lastSeq: number };
  /**
   * Edits and deletes, from live `change` frames and from history pages.
   * Apply one to the message at `target` when its seq is above that message's
   * editSeq; one whose target is not loaded can be dropped (history shows the current text).
   */
  changes: { room: string; changes: RoomChange[]; source: MessageSource };
  /** A room became this user's elsewhere (another tab, an invitation, a DM); it is followed and joined here too. */
  roomadded: { room: MyRoom; by?: UserRef };
  /**
   * The room is no longer followed: left on another socket, or missing from
   * the server's list of this user's rooms after a reconnect (membership ended).
   */
  roomremoved: { room: string };
  /** Someone created a public room. */
  roomcreated: { room: RoomSummary };
  /** Server errors tied to nothing the client tracks. */
  error: ClientError;
}
