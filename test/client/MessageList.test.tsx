// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ChatMessage } from '../../amplify/core/protocol';
import { MessageList, type MessageListProps } from '../../src/chat/MessageList';
import type { PendingMessage } from '../../src/chat/store';
import { fakeLayout, scrollTo } from './support/layout';

const DAY = 24 * 60 * 60_000;
const T0 = new Date(2025, 2, 3, 9, 0).getTime();

function msgs(n: number, from = 1, at = (seq: number) => T0 + seq * 60_000, sender = (seq: number) => (seq % 3 === 0 ? 'bob' : 'alice')): ChatMessage[] {
  return Array.from({ length: n }, (_, i) => {
    const seq = from + i;
    const who = sender(seq);
    return { room: 'lobby', seq, id: `m${seq}`, senderId: `u-${who}`, senderName: who, text: `message ${seq}`, ts: at(seq) };
  });
}

function props(over: Partial<MessageListProps> = {}): MessageListProps {
  return {
    roomId: 'lobby',
    roomLabel: '#lobby',
    messages: [],
    pending: [],
    meId: 'u-alice',
    loaded: true,
    hasOlder: false,
    loadingOlder: false,
    onLoadOlder: vi.fn(),
    onRetry: vi.fn(),
    onDiscard: vi.fn(),
    onEdit: vi.fn(),
    ...over,
  };
}

const rows = () => document.querySelectorAll('[role="listitem"]');
const scroller = () => screen.getByRole('region', { name: 'Messages in #lobby' });
const flush = () => act(() => new Promise((r) => setTimeout(r, 30)));

let restore: () => void;
beforeEach(() => {
  restore = fakeLayout();
});
afterEach(() => {
  cleanup();
  restore();
});

describe('MessageList', () => {
  it('keeps the DOM small with 10,000 messages and opens at the newest one', async () => {
    const messages = msgs(10_000);
    render(<MessageList {...props({ messages })} />);
    await flush();
    const count = rows().length;
    expect(count).toBeGreaterThan(5);
    expect(count).toBeLessThan(80);
    expect(screen.getByText('message 10000')).toBeTruthy();
    expect(screen.queryByText('message 1')).toBeNull();
    // Screen readers still hear where they are in the whole room.
    const last = screen.getByText('message 10000').closest('[role="listitem"]')!;
    expect(last.getAttribute('aria-setsize')).toBe('10000');
    expect(last.getAttribute('aria-posinset')).toBe('10000');
  });

  it('stays bounded while scrolling through the list', async () => {
    render(<MessageList {...props({ messages: msgs(10_000) })} />);
    await flush();
    for (const top of [0, 50_000, 200_000]) {
      scrollTo(scroller(), top);
      await flush();
      expect(rows().length).toBeLessThan(80);
    }
  });

  it('asks for older history when scrolled to the top, and only while there is more', async () => {
    const onLoadOlder = vi.fn();
    const { rerender } = render(<MessageList {...props({ messages: msgs(200, 301), hasOlder: true, onLoadOlder })} />);
    await flush();
    expect(onLoadOlder).not.toHaveBeenCalled();
    scrollTo(scroller(), 0);
    await flush();
    expect(onLoadOlder).toHaveBeenCalledTimes(1);
    rerender(<MessageList {...props({ messages: msgs(200, 301), hasOlder: false, onLoadOlder })} />);
    await flush();
    expect(screen.getByText('Welcome to #lobby')).toBeTruthy();
    expect(onLoadOlder).toHaveBeenCalledTimes(1);
  });

  it('groups by sender, separates days and marks your own messages', async () => {
    const at = (seq: number) => (seq <= 3 ? T0 + seq * 60_000 : T0 + DAY + seq * 60_000);
    const sender = (seq: number) => (seq === 3 || seq === 4 ? 'bob' : 'alice');
    render(<MessageList {...props({ messages: msgs(5, 1, at, sender) })} />);
    await flush();
    const separators = screen.getAllByRole('separator');
    expect(separators).toHaveLength(2);
    // alice 1, alice 2 (grouped), bob 3 | next day: bob 4 (new day, new header), alice 5
    const headers = document.querySelectorAll('.msg.first');
    expect([...headers].map((h) => h.querySelector('.msg-name')?.textContent)).toEqual(['alice', 'bob', 'bob', 'alice']);
    const own = document.querySelectorAll('.msg.own');
    expect(own).toHaveLength(3);
    expect(within(own[0] as HTMLElement).getByText('you')).toBeTruthy();
  });

  it('renders user text as text, never as HTML, and links only http(s) URLs', async () => {
    const evil = '<img src=x onerror="alert(1)"> see https://example.com/a?b=1 and javascript:alert(1)';
    render(<MessageList {...props({ messages: [{ ...msgs(1)[0]!, text: evil }] })} />);
    await flush();
    expect(document.querySelector('.msg-text img')).toBeNull();
    expect(document.querySelector('.msg-text')!.textContent).toBe(evil);
    const links = document.querySelectorAll('.msg-text a');
    expect([...links].map((a) => a.getAttribute('href'))).toEqual(['https://example.com/a?b=1']);
    expect(links[0]!.getAttribute('rel')).toContain('noopener');
  });

  it('shows sending and failed messages, with retry, edit and discard', async () => {
    const pending: PendingMessage[] = [
      { clientMsgId: 'c1', text: 'on its way', status: 'sending', ts: T0 + 10 * 60_000 },
      { clientMsgId: 'c2', text: 'refused', status: 'failed', error: { code: 'text_too_long', message: 'Too long' }, ts: T0 + 11 * 60_000 },
    ];
    const p = props({ messages: msgs(2), pending });
    render(<MessageList {...p} />);
    await flush();
    expect(screen.getByText('Sending…')).toBeTruthy();
    expect(screen.getByRole('alert').textContent).toContain('Not sent: Too long');
    fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
    fireEvent.click(screen.getByRole('button', { name: 'Edit' }));
    fireEvent.click(screen.getByRole('button', { name: 'Discard' }));
    expect(p.onRetry).toHaveBeenCalledWith('c2');
    expect(p.onEdit).toHaveBeenCalledWith('c2', 'refused');
    expect(p.onDiscard).toHaveBeenCalledWith('c2');
  });

  it('follows new messages at the bottom, and offers a pill instead when you scrolled up', async () => {
    const base = msgs(300);
    const { rerender } = render(<MessageList {...props({ messages: base })} />);
    await flush();
    rerender(<MessageList {...props({ messages: [...base, ...msgs(1, 301, undefined, () => 'bob')] })} />);
    await flush();
    expect(screen.getByText('message 301')).toBeTruthy();
    expect(screen.queryByRole('button', { name: /new message/ })).toBeNull();

    scrollTo(scroller(), 1000);
    await flush();
    rerender(<MessageList {...props({ messages: [...base, ...msgs(3, 301, undefined, () => 'bob')] })} />);
    await flush();
    const pill = screen.getByRole('button', { name: /2 new messages/ });
    fireEvent.click(pill);
    await flush();
    await flush();
    expect(screen.getByText('message 303')).toBeTruthy();
  });
});
