/**
 * An in-memory WebSocketLike for tests on vitest's fake timers: no network,
 * so every delay the client schedules can be stepped through exactly. Frames
 * the client sends are parsed by the core protocol's parser and handed to a
 * responder, a microtask later, as a network reply would come.
 */
import { parseAction, type ClientAction, type ServerEvent } from '../../../amplify/core/protocol';
import type { SocketFactory, WebSocketLike } from '../../../src/realtime/types';

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

export class ScriptedSocket implements WebSocketLike {
  readyState = CONNECTING;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  /** Every frame the client sent, parsed, with the fake clock's time. */
  readonly sent: { action: ClientAction; at: number }[] = [];

  constructor(
    readonly url: string,
    private readonly respond: (action: ClientAction, socket: ScriptedSocket) => void,
  ) {}

  send(data: string): void {
    const action = parseAction(data);
    this.sent.push({ action, at: Date.now() });
    queueMicrotask(() => {
      if (this.readyState === OPEN) this.respond(action, this);
    });
  }

  close(): void {
    this.readyState = CLOSED;
  }

  // ---- what the far end does

  accept(): void {
    this.readyState = OPEN;
    this.onopen?.({});
  }

  receive(event: ServerEvent): void {
    this.onmessage?.({ data: JSON.stringify(event) });
  }

  /** The connection fails or is refused: a close with no handshake. */
  fail(code = 1006): void {
    this.readyState = CLOSED;
    this.onclose?.({ code, reason: '' });
  }
}

export interface Script {
  createSocket: SocketFactory;
  sockets: ScriptedSocket[];
  /** While true, each new socket fails as it connects (a refused upgrade). */
  refuse: boolean;
}

/** A socket factory whose sockets open (or fail, while `refuse`) a microtask after they are made. */
export function script(respond: (action: ClientAction, socket: ScriptedSocket) => void = () => undefined): Script {
  const s: Script = {
    sockets: [],
    refuse: false,
    createSocket: (url) => {
      const socket = new ScriptedSocket(url, respond);
      s.sockets.push(socket);
      queueMicrotask(() => (s.refuse ? socket.fail() : socket.accept()));
      return socket;
    },
  };
  return s;
}

/** Frames of one action across every socket, in order. */
export const sentOf = (s: Script, action: ClientAction['action']) => s.sockets.flatMap((k) => k.sent).filter((f) => f.action.action === action);
