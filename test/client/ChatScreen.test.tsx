// @vitest-environment jsdom
import { act, cleanup, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { NAME_RULE } from '../../amplify/core/names';
import ChatScreen, { ChatLayout } from '../../src/chat/ChatScreen';
import { ChatStore } from '../../src/chat/store';
import { ChatSocket } from '../../src/realtime/socket';
import type { WebSocketLike } from '../../src/realtime/types';
import { FakeChatServer } from './support/fakeServer';
import { harness, type Harness } from './support/harness';
import { fakeLayout } from './support/layout';

const waitFor = <T,>(fn: () => T) => vi.waitFor(fn, { timeout: 5000, interval: 20 });

let server: FakeChatServer;
let bob: Harness;
let restore: () => void;

beforeEach(async () => {
  restore = fakeLayout();
  localStorage.clear();
  server = await FakeChatServer.start();
  bob = harness(server, 'bob');
  bob.socket.start();
  await waitFor(() => expect(bob.socket.state).toBe('online'));
});
afterEach(async () => {
  cleanup();
  bob.socket.stop();
  await server.close();
  restore();
});

function renderChat(user = 'alice') {
  const onSignOut = vi.fn();
  render(
    <ChatScreen
      user={{ id: `u-${user}`, name: user }}
      websocketUrl={server.url}
      getToken={async () => user}
      onSignOut={onSignOut}
      // jsdom's own WebSocket (undici) trips over jsdom's Event class; `ws` is just as real.
      socketOptions={{ createSocket: (url) => new WebSocket(url) as unknown as WebSocketLike, backoff: { baseMs: 20, maxMs: 100 } }}
    />,
  );
  return { onSignOut };
}

const composer = () => screen.getByLabelText(/^Message /) as HTMLTextAreaElement;
const messageTexts = () => [...document.querySelectorAll('.msg-text')].map((n) => n.textContent);

describe('ChatScreen (jsdom WebSocket against the fake server)', () => {
  it('chats both ways, shows typing and presence, and survives a dropped socket', async () => {
    const user = userEvent.setup();
    renderChat();
    await waitFor(() => expect(screen.getByText('Welcome to #Lobby')).toBeTruthy());
    await user.click(composer());
    await user.keyboard('hi bob{Enter}');
    await waitFor(() => expect(server.messages('lobby').map((m) => m.text)).toEqual(['hi bob']));
    await waitFor(() => expect(document.querySelector('.msg.pending')).toBeNull());
    expect(messageTexts()).toEqual(['hi bob']);

    bob.socket.sendMessage('lobby', 'hey alice');
    await waitFor(() => expect(messageTexts()).toEqual(['hi bob', 'hey alice']));
    // Announced politely for screen readers.
    expect(document.querySelector('[aria-live="polite"]')!.textContent).toBe('bob: hey alice');

    bob.socket.typing('lobby');
    await waitFor(() => expect(screen.getByText('bob is typing…')).toBeTruthy());
    expect(screen.getByRole('button', { name: /people here now/ }).textContent).toContain('2');

    // The network goes: the banner says so, what alice writes waits, and everything arrives once, in order.
    server.refuse = true;
    server.drop('alice');
    await waitFor(() => expect(screen.getByText(/Reconnecting/)).toBeTruthy());
    await user.click(composer());
    await user.keyboard('while away{Enter}');
    bob.socket.sendMessage('lobby', 'you missed this');
    await waitFor(() => expect(server.messages('lobby')).toHaveLength(3));
    await act(async () => {
      server.refuse = false;
    });
    await waitFor(() => expect(screen.queryByText(/Reconnecting/)).toBeNull());
    await waitFor(() => expect(messageTexts()).toEqual(['hi bob', 'hey alice', 'you missed this', 'while away']));
  });

  it('creates a private room from the dialog and opens it', async () => {
    const user = userEvent.setup();
    renderChat();
    await waitFor(() => expect(screen.getByText('Welcome to #Lobby')).toBeTruthy());
    await user.click(screen.getByRole('button', { name: 'Create a room' }));
    const dialog = screen.getByRole('dialog', { name: 'Create a room' });
    await user.type(within(dialog).getByLabelText('Name'), 'Weekend Plans');
    expect((within(dialog).getByLabelText('Room ID') as HTMLInputElement).value).toBe('weekend-plans');
    // A private room's id is the server's to make: the field goes away.
    await user.click(within(dialog).getByLabelText(/Private/));
    expect(within(dialog).queryByLabelText('Room ID')).toBeNull();
    // Invitees are checked with the sign-up name rule, before anything is sent.
    await user.type(within(dialog).getByLabelText('Invite people'), 'bob, -bob-, not a name!');
    await user.click(within(dialog).getByRole('button', { name: 'Create room' }));
    expect(within(dialog).getByRole('alert').textContent).toBe(`Not a valid chat name: -bob-, name!. ${NAME_RULE}.`);
    expect(server.log.some((l) => l.action.action === 'createroom')).toBe(false);
    await user.clear(within(dialog).getByLabelText('Invite people'));
    await user.type(within(dialog).getByLabelText('Invite people'), '@bob BOB');
    await user.click(within(dialog).getByRole('button', { name: 'Create room' }));
    await waitFor(() => expect(screen.getByRole('heading', { level: 1 }).textContent).toContain('Weekend Plans'));
    const current = within(screen.getByRole('region', { name: 'Your rooms' })).getByRole('button', { current: 'page' });
    expect(current.textContent).toContain('Weekend Plans(private)');
    const created = [...server.rooms.values()].find((r) => r.summary.name === 'Weekend Plans')!;
    expect(created.summary.id).toMatch(/^p[a-z0-9]+$/);
    expect(created.members).toEqual(new Set(['alice', 'bob'])); // `BOB` is bob by the name rule
    expect(server.log.find((l) => l.action.action === 'createroom')?.action).toEqual({
      action: 'createroom',
      private: true,
      name: 'Weekend Plans',
      invite: ['bob'],
      reqId: expect.any(String),
    });
    // What alice types now goes to the room the server made.
    await user.click(composer());
    await user.keyboard('saturday?{Enter}');
    await waitFor(() => expect(server.messages(created.summary.id).map((m) => m.text)).toEqual(['saturday?']));
  });

  it('creates a public room by the id its creator picks, and says when the id is taken', async () => {
    const user = userEvent.setup();
    server.room('taken');
    renderChat();
    await waitFor(() => expect(screen.getByText('Welcome to #Lobby')).toBeTruthy());
    await user.click(screen.getByRole('button', { name: 'Create a room' }));
    const dialog = screen.getByRole('dialog', { name: 'Create a room' });
    await user.type(within(dialog).getByLabelText('Room ID'), 'taken');
    await user.click(within(dialog).getByRole('button', { name: 'Create room' }));
    await waitFor(() => expect(within(dialog).getByRole('alert').textContent).toContain('A room with the ID “taken” already exists'));
    await user.clear(within(dialog).getByLabelText('Room ID'));
    await user.type(within(dialog).getByLabelText('Room ID'), 'fresh');
    await user.click(within(dialog).getByRole('button', { name: 'Create room' }));
    await waitFor(() => expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('#fresh'));
    expect(server.log.find((l) => l.action.action === 'createroom' && l.action.room === 'fresh')?.action).toEqual({
      action: 'createroom',
      room: 'fresh',
      private: false,
      invite: [],
      reqId: expect.any(String),
    });
  });
});

describe('ChatLayout: direct messages, edits and deletes go through the store', () => {
  let store: ChatStore;
  beforeEach(() => {
    const socket = new ChatSocket({
      getUrl: async () => `${server.url}/?token=alice`,
      createSocket: (url) => new WebSocket(url) as unknown as WebSocketLike,
      backoff: { baseMs: 10, maxMs: 50 },
    });
    store = new ChatStore(socket, { id: 'u-alice', name: 'alice' }, { storage: undefined });
  });
  afterEach(() => store.dispose());

  const start = async () => {
    render(<ChatLayout store={store} onSignOut={vi.fn()} />);
    act(() => store.start());
    await waitFor(() => expect(screen.getByText('Welcome to #Lobby')).toBeTruthy());
  };

  it('starts a DM from the sidebar: the dialog hands the name to store.openDm and closes', async () => {
    const openDm = vi.spyOn(store, 'openDm').mockResolvedValue('dbob');
    const user = userEvent.setup();
    await start();
    await user.click(screen.getByRole('button', { name: 'Start a direct message' }));
    const dialog = screen.getByRole('dialog', { name: 'Start a direct message' });
    expect(dialog.hasAttribute('open')).toBe(true);
    await user.type(within(dialog).getByLabelText('Their chat name'), 'bob');
    await user.click(within(dialog).getByRole('button', { name: 'Open conversation' }));
    expect(openDm).toHaveBeenCalledWith('bob');
    await waitFor(() => expect(dialog.hasAttribute('open')).toBe(false));
  });

  it('shows the server’s refusal in the DM dialog', async () => {
    vi.spyOn(store, 'openDm').mockRejectedValue(Object.assign(new Error('No user called zed'), { code: 'unknown_user' }));
    const user = userEvent.setup();
    await start();
    await user.click(screen.getByRole('button', { name: 'Start a direct message' }));
    const dialog = screen.getByRole('dialog', { name: 'Start a direct message' });
    await user.type(within(dialog).getByLabelText('Their chat name'), 'zed');
    await user.click(within(dialog).getByRole('button', { name: 'Open conversation' }));
    await waitFor(() => expect(within(dialog).getByRole('alert').textContent).toBe('Nobody here is called “zed”.'));
    expect(dialog.hasAttribute('open')).toBe(true);
  });

  it('draws a DM room by the other person: in its own section, in the heading and in the composer', async () => {
    const room = server.room('dalicebob', 'alice, bob', true, ['alice', 'bob']);
    room.summary.dm = [
      { id: 'u-alice', name: 'alice' },
      { id: 'u-bob', name: 'bob' },
    ];
    await start();
    await act(async () => store.select('dalicebob'));
    await waitFor(() => expect(store.getSnapshot().rooms.dalicebob?.loaded).toBe(true));
    // Cheap queries: role queries over the whole screen are slow in jsdom on a busy machine.
    await waitFor(() => expect(document.getElementById('room-title')?.textContent).toBe('bob'));
    const dms = screen.getByRole('region', { name: 'Direct messages' });
    expect(within(dms).getByRole('button', { current: 'page' }).textContent).toContain('bob');
    expect(within(screen.getByRole('region', { name: 'Your rooms' })).queryByRole('button', { name: /bob/ })).toBeNull();
    expect(within(screen.getByRole('region', { name: 'More rooms' })).queryByText(/bob/)).toBeNull();
    expect(composer().getAttribute('placeholder')).toBe('Message bob');
    await waitFor(() => expect(document.querySelector('.room-start h2')?.textContent).toBe('bob'));
  });

  it('edits and deletes your own message by its seq, in the room it is in', async () => {
    const editMessage = vi.spyOn(store, 'editMessage').mockResolvedValue(undefined);
    const deleteMessage = vi.spyOn(store, 'deleteMessage').mockResolvedValue(undefined);
    const user = userEvent.setup();
    await start();
    await user.click(composer());
    await user.keyboard('helo{Enter}');
    await waitFor(() => expect(document.querySelector('.msg.pending')).toBeNull());
    const seq = server.messages('lobby')[0]!.seq;
    const mine = () => screen.getByText('helo').closest('article')!;
    await user.click(within(mine()).getByRole('button', { name: 'Edit message' }));
    await user.clear(screen.getByRole('textbox', { name: 'Edit message' }));
    await user.keyboard('hello{Enter}');
    expect(editMessage).toHaveBeenCalledWith('lobby', seq, 'hello');
    await waitFor(() => expect(screen.queryByRole('textbox', { name: 'Edit message' })).toBeNull());
    await user.click(within(mine()).getByRole('button', { name: 'Delete message' }));
    await user.click(within(mine()).getByRole('button', { name: 'Delete' }));
    expect(deleteMessage).toHaveBeenCalledWith('lobby', seq);
  });
});
