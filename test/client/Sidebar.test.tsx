// @vitest-environment jsdom
import { cleanup, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RoomSummary } from '../../amplify/core/protocol';
import { Sidebar, type SidebarProps } from '../../src/chat/Sidebar';

afterEach(cleanup);

const summary = (id: string, isPrivate = false): RoomSummary => ({ id, name: id, private: isPrivate, createdBy: 'x', lastSeq: 0 });

function setup(over: Partial<SidebarProps> = {}) {
  const props: SidebarProps = {
    me: { id: 'u-alice', name: 'alice' },
    rooms: [
      { id: 'lobby', name: 'Lobby', private: false, unread: 0 },
      { id: 'random', name: 'random', private: false, unread: 3 },
      { id: 'plans', name: 'plans', private: true, unread: 250 },
    ],
    directory: [summary('lobby'), summary('random'), summary('plans', true), summary('music'), summary('secret-club', true)],
    current: 'lobby',
    onSelect: vi.fn(),
    onCreate: vi.fn(),
    onStartDm: vi.fn(),
    onRefresh: vi.fn(),
    onSignOut: vi.fn(),
    ...over,
  };
  render(<Sidebar {...props} />);
  return props;
}

const yourRooms = () => screen.getByRole('region', { name: 'Your rooms' });
const moreRooms = () => screen.getByRole('region', { name: 'More rooms' });
const dms = () => screen.getByRole('region', { name: 'Direct messages' });

const bob = { id: 'u-bob', name: 'bob' };
const carol = { id: 'u-carol', name: 'carol' };
const alice = { id: 'u-alice', name: 'alice' };
const dmSummary = (id: string, other: { id: string; name: string }): RoomSummary => ({
  id,
  name: [alice, other].map((u) => u.name).join(', '),
  private: true,
  createdBy: 'u-alice',
  lastSeq: 4,
  dm: [alice, other],
});

describe('Sidebar', () => {
  it('highlights the current room for sight and for screen readers', () => {
    setup({ current: 'random' });
    const current = within(yourRooms()).getByRole('button', { current: 'page' });
    expect(current.textContent).toContain('random');
    expect(current.className).toContain('active');
    expect(within(yourRooms()).getAllByRole('button', { current: false }).map((b) => b.textContent)).not.toContain(current.textContent);
  });

  it('shows unread counts, capped, with words for screen readers, and unread rooms in bold', () => {
    setup();
    // The number is drawn; what is read out is the sentence, once.
    const random = within(yourRooms()).getByRole('button', { name: 'random, 3 unread' });
    expect(random.querySelector('.badge [aria-hidden="true"]')!.textContent).toBe('3');
    expect(random.className).toContain('unread');
    const plans = within(yourRooms()).getByRole('button', { name: 'plans(private), more than 99 unread' });
    expect(plans.querySelector('.badge [aria-hidden="true"]')!.textContent).toBe('99+');
    const lobby = within(yourRooms()).getByRole('button', { name: 'Lobby' });
    expect(lobby.querySelector('.badge')).toBeNull();
    expect(lobby.className).not.toContain('unread');
  });

  it('counts up to 99 before it caps', () => {
    setup({ rooms: [{ id: 'lobby', name: 'Lobby', private: false, unread: 99 }], directory: [] });
    const lobby = within(yourRooms()).getByRole('button', { name: 'Lobby, 99 unread' });
    expect(lobby.querySelector('.badge [aria-hidden="true"]')!.textContent).toBe('99');
  });

  it('marks private rooms, and lists joinable rooms you are not in yet', async () => {
    const props = setup();
    expect(within(yourRooms()).getByRole('button', { name: /plans/ }).textContent).toContain('(private)');
    const browse = within(moreRooms()).getAllByRole('button', { name: /Join/ });
    // Rooms already followed are not offered again.
    expect(browse.map((b) => b.textContent)).toEqual([expect.stringContaining('music'), expect.stringContaining('secret-club(private)')]);
    await userEvent.setup().click(within(moreRooms()).getByRole('button', { name: /music/ }));
    expect(props.onSelect).toHaveBeenCalledWith('music');
  });

  it('has labelled controls for creating, refreshing and signing out', async () => {
    const props = setup();
    const user = userEvent.setup();
    await user.click(screen.getByRole('button', { name: 'Create a room' }));
    await user.click(screen.getByRole('button', { name: 'Refresh the room list' }));
    await user.click(screen.getByRole('button', { name: 'Sign out' }));
    expect(props.onCreate).toHaveBeenCalled();
    expect(props.onRefresh).toHaveBeenCalled();
    expect(props.onSignOut).toHaveBeenCalled();
  });

  it('says the room list is loading, not that you are in every room, until the server has answered', () => {
    setup({ directory: [], directoryLoaded: false });
    expect(within(moreRooms()).getByText('Loading rooms…')).toBeTruthy();
    expect(within(moreRooms()).queryByText(/every room/)).toBeNull();
    cleanup();
    setup({ directory: [summary('lobby')], directoryLoaded: true, rooms: [{ id: 'lobby', name: 'Lobby', private: false, unread: 0 }] });
    expect(within(moreRooms()).getByText('You are in every room you can see.')).toBeTruthy();
  });

  describe('direct messages', () => {
    const withDms = (over: Partial<SidebarProps> = {}) =>
      setup({
        rooms: [
          { id: 'lobby', name: 'Lobby', private: false, unread: 0 },
          { id: 'dbob', name: 'alice, bob', private: true, unread: 2, dm: bob },
          { id: 'dcarol', name: 'alice, carol', private: true, unread: 0, dm: carol },
        ],
        directory: [summary('lobby'), dmSummary('dbob', bob), dmSummary('dcarol', carol), dmSummary('ddave', { id: 'u-dave', name: 'dave' }), summary('music')],
        ...over,
      });

    it('lists DMs in their own section, by the other person, with unread counts, and not among your rooms', async () => {
      const props = withDms({ current: 'dcarol' });
      const bobRow = within(dms()).getByRole('button', { name: 'bob, 2 unread' });
      const listed = within(dms()).getAllByRole('listitem').map((li) => within(li).getByRole('button'));
      expect(listed).toEqual([bobRow, within(dms()).getByRole('button', { name: 'carol' })]);
      expect(bobRow.className).toContain('unread');
      // Drawn with the person's avatar, which screen readers skip: the name says who it is.
      expect(bobRow.querySelector('.avatar')!.getAttribute('aria-hidden')).toBe('true');
      expect(bobRow.textContent).not.toContain('(private)');
      expect(within(dms()).getByRole('button', { current: 'page' }).textContent).toContain('carol');
      expect(within(yourRooms()).queryByRole('button', { name: /bob|carol/ })).toBeNull();
      await userEvent.setup().click(bobRow);
      expect(props.onSelect).toHaveBeenCalledWith('dbob');
    });

    it('never offers DMs in the directory, not even ones you are not following', () => {
      withDms();
      const browse = within(moreRooms()).getAllByRole('button');
      expect(browse.map((b) => b.textContent)).toEqual(['↻', expect.stringContaining('music')]);
      expect(within(moreRooms()).queryByText(/dave|bob/)).toBeNull();
    });

    it('has a labelled button to start one, and says when there are none yet', async () => {
      const props = setup();
      expect(within(dms()).getByText('No conversations yet.')).toBeTruthy();
      await userEvent.setup().click(within(dms()).getByRole('button', { name: 'Start a direct message' }));
      expect(props.onStartDm).toHaveBeenCalledTimes(1);
    });
  });
});
