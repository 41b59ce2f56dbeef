import WebSocket from 'ws';
import type { ChatMessage } from '../../../amplify/core/protocol';
import { mergeMessages } from '../../../src/realtime/merge';
import { ChatSocket, type ChatSocketOptions } from '../../../src/realtime/socket';
import type { ConnectionState, WebSocketLike } from '../../../src/realtime/types';
import type { UrlRequest } from '../../../src/realtime/connection';
import type { FakeChatServer } from './fakeServer';

export interface Harness {
  socket: ChatSocket;
  /** Per room: everything delivered, merged as the store would. */
  rooms: Map<string, readonly ChatMessage[]>;
  /** Every message delivered by live, initial or catch-up events, in delivery order (older pages excluded). */
  delivered: ChatMessage[];
  states: ConnectionState[];
  urlCalls: () => number;
  /** When each connection attempt asked for its URL (ms, performance.now). */
  urlTimes: number[];
  /** What each attempt asked for: `refresh` when the token had to be a new one. */
  urlRequests: UrlRequest[];
  seqs: (room: string) => number[];
}

/**
 * A ChatSocket on a real `ws` WebSocket, tuned to fast timeouts, recording
 * what it delivers. Its token is the user name; a refresh issues `name~1`,
 * `name~2`, …, so a token the fake server expired is never offered again.
 */
export function harness(server: FakeChatServer, user = 'alice', opts: Partial<ChatSocketOptions> = {}): Harness {
  let calls = 0;
  let issued = 0;
  let token = user;
  const urlTimes: number[] = [];
  const urlRequests: UrlRequest[] = [];
  const socket = new ChatSocket({
    getUrl: async (request) => {
      calls++;
      urlTimes.push(performance.now());
      urlRequests.push(request);
      if (request.refresh) token = `${user}~${++issued}`;
      return `${server.url}/?token=${encodeURIComponent(token)}`;
    },
    createSocket: (url) => new WebSocket(url) as unknown as WebSocketLike,
    backoff: { baseMs: 10, maxMs: 60 },
    stableMs: 50,
    ackTimeoutMs: 300,
    requestTimeoutMs: 2_000,
    gapGraceMs: 40,
    pongTimeoutMs: 200,
    ...opts,
  });
  const rooms = new Map<string, readonly ChatMessage[]>();
  const delivered: ChatMessage[] = [];
  const states: ConnectionState[] = [];
  socket.on('state', (s) => states.push(s));
  socket.on('messages', (e) => {
    if (e.source !== 'older') delivered.push(...e.messages);
    rooms.set(e.room, mergeMessages(rooms.get(e.room) ?? [], e.messages));
  });
  socket.on('reset', ({ room }) => rooms.set(room, []));
  return { socket, rooms, delivered, states, urlCalls: () => calls, urlTimes, urlRequests, seqs: (room) => (rooms.get(room) ?? []).map((m) => m.seq) };
}

export const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
