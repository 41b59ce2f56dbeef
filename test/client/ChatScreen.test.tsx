// @vitest-environment jsdom
import { act, cleanup, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { NAME_RULE } from '../../amplify/core/names';
import ChatScreen from '../../src/chat/ChatScreen';
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
