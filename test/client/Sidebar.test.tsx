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
    onRefresh: vi.fn(),
    onSignOut: vi.fn(),
    ...over,
  };
  render(<Sidebar {...props} />);
  return props;
}

const yourRooms = () => screen.getByRole('region', { name: 'Your rooms' });
const moreRooms = () => screen.getByRole('region', { name: 'More rooms' });

describe('Sidebar', () => {
  it('highlights the current room for sight and for screen readers', () => {
    setup({ current: 'random' });
    const current = within(yourRooms()).getByRole('button', { current: 'page' });
    expect(current.textContent).toContain('random');
    expect(current.className).toContain('active');
    expect(within(yourRooms()).getAllByRole('button', { current: false }).map((b) => b.textContent)).not.toContain(current.textContent);
  });

  it('shows unread counts, capped, with words for screen readers', () => {
    setup();
    const random = within(yourRooms()).getByRole('button', { name: /random/ });
    expect(random.textContent).toContain('3 unread');
    const plans = within(yourRooms()).getByRole('button', { name: /plans/ });
    expect(plans.querySelector('.badge')!.textContent).toBe('99+ unread');
    const lobby = within(yourRooms()).getByRole('button', { name: /Lobby/ });
    expect(lobby.querySelector('.badge')).toBeNull();
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
});
