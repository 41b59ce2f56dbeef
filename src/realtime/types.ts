import type { ErrorCode } from '../../amplify/core/protocol';

/**
 * connecting: first attempt since start(); online: socket open;
 * reconnecting: lost it and retrying on a backoff; offline: not trying
 * (stopped, or the browser says there is no network).
 */
export type ConnectionState = 'connecting' | 'online' | 'reconnecting' | 'offline';

/** Failures the client detects itself, before or instead of a server reply. */
export type LocalErrorCode = 'frame_too_large' | 'text_too_long' | 'empty' | 'not_joined' | 'disconnected' | 'timeout' | 'stopped';

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
