// @vitest-environment jsdom
/**
 * Renders that skip: an event re-renders the parts of the screen it changes,
 * not every message row. Message text is drawn by Linkified, so counting its
 * renders counts message-row renders.
 */
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { ChatMessage } from '../../amplify/core/protocol';
import { ChatLayout } from '../../src/chat/ChatScreen';
import { MessageList, type MessageListProps } from '../../src/chat/MessageList';
import { ChatStore } from '../../src/chat/store';
import { ChatSocket } from '../../src/realtime/socket';
import type { WebSocketLike } from '../../src/realtime/types';
import { FakeChatServer } from './support/fakeServer';
import { harness, type Harness } from './support/harness';
import { fakeLayout } from './support/layout';

const drawn = vi.hoisted(() => [] as string[]);
vi.mock('../../src/chat/Linkified', () => ({
  Linkified: ({ text }: { text: string }) => {
    drawn.push(text);
    return text;
  },
}));

const waitFor = <T,>(fn: () => T) => vi.waitFor(fn, { timeout: 4000, interval: 10 });
const T0 = new Date(2025, 2, 3, 9, 0).getTime();
const msg = (seq: number): ChatMessage => ({ room: 'lobby', seq, id: `m${seq}`, senderId: 'u-bob', senderName: 'bob', text: `message ${seq}`, ts: T0 + seq * 1000 });
const settle = () => act(() => new Promise((r) => setTimeout(r, 0)));

let restore: () => void;
beforeEach(() => {
  restore = fakeLayout();
  drawn.length = 0;
});
afterEach(() => {
  cleanup();
  restore();
});

describe('MessageList rows', () => {
  it('draws only the new row when a message arrives', async () => {
    const handlers = { onLoadOlder: vi.fn(), onRetry: vi.fn(), onDiscard: vi.fn(), onEdit: vi.fn(), onEditMessage: vi.fn(), onDeleteMessage: vi.fn() };
    const props = (messages: ChatMessage[]): MessageListProps => ({
      roomId: 'lobby',
      roomLabel: '#lobby',
      messages,
      pending: [],
      meId: 'u-alice',
      loaded: true,
      hasOlder: false,
      loadingOlder: false,
      ...handlers,
    });
    const five = [1, 2, 3, 4, 5].map(msg);
    const view = render(<MessageList {...props(five)} />);
    await settle();
    expect(new Set(drawn)).toEqual(new Set(five.map((m) => m.text)));

    drawn.length = 0;
    view.rerender(<MessageList {...props([...five, msg(6)])} />);
    await settle();
    expect(drawn).toEqual(['message 6']);
  });

  it('draws only the row being edited when an edit starts and ends', async () => {
    const handlers = { onLoadOlder: vi.fn(), onRetry: vi.fn(), onDiscard: vi.fn(), onEdit: vi.fn(), onEditMessage: vi.fn(), onDeleteMessage: vi.fn() };
    const mine = (seq: number): ChatMessage => ({ ...msg(seq), senderId: 'u-alice', senderName: 'alice' });
    const messages = [msg(1), mine(2), msg(3), mine(4)];
    render(<MessageList roomId="lobby" roomLabel="#lobby" messages={messages} pending={[]} meId="u-alice" loaded hasOlder={false} loadingOlder={false} {...handlers} />);
    await settle();
    drawn.length = 0;
    const row = screen.getByText('message 2').closest('article')!;
    fireEvent.click(within(row).getByRole('button', { name: 'Edit message' }));
    await settle();
    // The editor replaces that row's text; no other row redraws.
    expect(drawn).toEqual([]);
    fireEvent.keyDown(screen.getByRole('textbox', { name: 'Edit message' }), { key: 'Escape' });
    await settle();
    expect(drawn).toEqual(['message 2']);
  });
});

describe('ChatLayout slices', () => {
  let server: FakeChatServer;
  let bob: Harness;
  let store: ChatStore;
  beforeEach(async () => {
    server = await FakeChatServer.start();
    // Bob's rooms are his by membership now: the sync drops a followed room that is not.
    server.room('random', 'random', false, ['bob']);
    bob = harness(server, 'bob');
    bob.socket.start(['lobby', 'random']);
    await waitFor(() => expect(bob.socket.state).toBe('online'));
    const socket = new ChatSocket({
      getUrl: async () => `${server.url}/?token=alice`,
      createSocket: (url) => new WebSocket(url) as unknown as WebSocketLike,
      backoff: { baseMs: 10, maxMs: 50 },
    });
    store = new ChatStore(socket, { id: 'u-alice', name: 'alice' }, { storage: undefined });
  });
  afterEach(async () => {
    cleanup();
    store.dispose();
    bob.socket.stop();
    await server.close();
  });

  it('leaves message rows alone for typing and other rooms, and draws one row per new message', async () => {
    render(<ChatLayout store={store} onSignOut={vi.fn()} />);
    act(() => store.start());
    await waitFor(() => expect(store.getSnapshot().rooms.lobby?.loaded).toBe(true));
    act(() => void store.join('random'));
    await waitFor(() => expect(store.getSnapshot().rooms.random?.followed).toBe(true));
    bob.socket.sendMessage('lobby', 'first');
    bob.socket.sendMessage('lobby', 'second');
    await waitFor(() => expect(store.getSnapshot().rooms.lobby?.messages.map((m) => m.text)).toEqual(['first', 'second']));
    await settle();
    expect(drawn).toContain('second');

    drawn.length = 0;
    // Typing in both rooms and a message elsewhere: the store changes three times, no message row may redraw.
    bob.socket.typing('lobby');
    bob.socket.typing('random');
    bob.socket.sendMessage('random', 'elsewhere');
    await waitFor(() => {
      const { rooms } = store.getSnapshot();
      expect(rooms.lobby?.typing.map((t) => t.user.name)).toEqual(['bob']);
      expect(rooms.random?.typing).toEqual([]);
      expect(rooms.random?.messages.map((m) => m.text)).toEqual(['elsewhere']);
    });
    await settle();
    expect(document.querySelector('.typing')?.textContent).toContain('bob is typing');
    expect(drawn).toEqual([]);

    bob.socket.sendMessage('lobby', 'third');
    await waitFor(() => expect(store.getSnapshot().rooms.lobby?.messages).toHaveLength(3));
    await settle();
    expect(drawn).toEqual(['third']);
  });
});
