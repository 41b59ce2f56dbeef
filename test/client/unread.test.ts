/**
 * The store's unread count against events in the orders the network can
 * deliver them: a scripted socket hands the store each event directly, so
 * the race a real server only sometimes produces happens every time.
 */
import { describe, expect, it } from 'vitest';
import type { ChatMessage, MyRoom } from '../../amplify/core/protocol';
import { ChatStore, type ChatSocketLike } from '../../src/chat/store';
import { Emitter } from '../../src/realtime/emitter';
import type { ChatSocketEvents } from '../../src/realtime/types';

class ScriptedSocket extends Emitter<ChatSocketEvents> {
  state = 'online' as const;
  readonly reads: { room: string; seq: number }[] = [];
  fire<K extends keyof ChatSocketEvents>(type: K, payload: ChatSocketEvents[K]): void {
    this.emit(type, payload);
  }
  start(): void {}
  stop(): void {}
  focus(): void {}
  markRead(room: string, seq: number): void {
    this.reads.push({ room, seq });
  }
}

const me = { id: 'u-eli', name: 'eli' };
const room: MyRoom = { id: 'plans', name: 'plans', private: false, createdBy: 'u-dana', lastSeq: 0, lastRead: 0, unread: 0 };
const msg = (seq: number, senderId = 'u-dana'): ChatMessage => ({ room: 'plans', seq, id: `m${seq}`, senderId, senderName: 'dana', text: `m${seq}`, ts: seq });

function setup() {
  const socket = new ScriptedSocket();
  const store = new ChatStore(socket as unknown as ChatSocketLike, me, { storage: undefined });
  store.start();
  // Eli looks at the lobby; "plans" is his, with nothing unread yet.
  socket.fire('synced', { rooms: [room] });
  return { socket, store, unread: () => store.getSnapshot().rooms.plans?.unread };
}

describe('unread counts when events race', () => {
  it('keeps a live message that overtook the join answer counting only up to its lastSeq', () => {
    const { socket, unread } = setup();
    socket.fire('messages', { room: 'plans', messages: [msg(1)], source: 'live' });
    socket.fire('messages', { room: 'plans', messages: [msg(2)], source: 'live' });
    expect(unread()).toBe(2);
    // The answer was counted at seq 1, before seq 2 was sent; seq 2 arrived first all the same.
    socket.fire('joined', { type: 'joined', room: { ...room, lastSeq: 1 }, members: [], memberCount: 0, lastRead: 0, unread: 1 });
    expect(unread()).toBe(2);
  });

  it('keeps a live message that overtook another device’s read marker', () => {
    const { socket, unread } = setup();
    for (const seq of [1, 2, 3]) socket.fire('messages', { room: 'plans', messages: [msg(seq)], source: 'live' });
    // The phone read up to 2 while seq 3 was being sent: the server counted up to its lastSeq, 2.
    socket.fire('read', { room: 'plans', seq: 2, unread: 0, lastSeq: 2 });
    expect(unread()).toBe(1);
    socket.fire('read', { room: 'plans', seq: 3, unread: 0, lastSeq: 3 });
    expect(unread()).toBe(0);
  });

  it('does not count your own messages, or anything up to the marker, past the server’s lastSeq', () => {
    const { socket, unread } = setup();
    socket.fire('messages', { room: 'plans', messages: [msg(1), msg(2, me.id)], source: 'live' });
    socket.fire('read', { room: 'plans', seq: 1, unread: 0, lastSeq: 1 });
    expect(unread()).toBe(0);
  });
});
