// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ChatMessage } from '../../amplify/core/protocol';
import { MessageList, type MessageListProps } from '../../src/chat/MessageList';
import type { PendingMessage } from '../../src/chat/store';
import { formatFull } from '../../src/chat/format';
import { ChatError } from '../../src/realtime/types';
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
    onEditMessage: vi.fn(async () => undefined),
    onDeleteMessage: vi.fn(async () => undefined),
    ...over,
  };
}

const rows = () => document.querySelectorAll('[role="listitem"]');
const scroller = () => screen.getByRole('region', { name: 'Messages in #lobby' });
const flush = () => act(() => new Promise((r) => setTimeout(r, 30)));
/** The article (one message) whose text is `text`. */
const article = (text: string) => screen.getByText(text).closest('article')!;
const newDivider = () => screen.queryByRole('separator', { name: 'New messages' });
/** The text of the message row right below the "New messages" divider. */
const belowDivider = () => newDivider()!.closest('[role="listitem"]')!.nextElementSibling?.querySelector('.msg-text')?.textContent;

function deferred() {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

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

  describe('"New messages" divider', () => {
    it('sits above the first message from someone else after dividerAt, skipping your own', async () => {
      // alice (you) 1 2, bob 3, alice 4 5, bob 6, …
      render(<MessageList {...props({ messages: msgs(9), dividerAt: 3 })} />);
      await flush();
      expect(screen.getAllByRole('separator', { name: 'New messages' })).toHaveLength(1);
      expect(belowDivider()).toBe('message 6');
    });

    it('gives the message below it its header back, even within a group', async () => {
      render(<MessageList {...props({ messages: msgs(4, 1, undefined, (seq) => (seq === 1 ? 'alice' : 'bob')), dividerAt: 2 })} />);
      await flush();
      expect(belowDivider()).toBe('message 3');
      // bob 2 and bob 3 would share a header; the divider splits them.
      expect(article('message 3').className).toContain('first');
      expect(article('message 4').className).not.toContain('first');
    });

    it('is not drawn without a marker, nor when nothing from others came after it', async () => {
      const { rerender } = render(<MessageList {...props({ messages: msgs(5) })} />);
      await flush();
      expect(newDivider()).toBeNull();
      // 4 and 5 are yours.
      rerender(<MessageList {...props({ messages: msgs(5), dividerAt: 3 })} />);
      await flush();
      expect(newDivider()).toBeNull();
      // A deleted message is not news.
      const messages = msgs(7).map((m) => (m.seq === 6 ? { ...m, text: '', deleted: true as const } : m));
      rerender(<MessageList {...props({ messages: [...messages, ...msgs(2, 8, undefined, () => 'bob')], dividerAt: 5 })} />);
      await flush();
      expect(belowDivider()).toBe('message 8');
    });

    it('opens at the divider when there is more to read below it than fits', async () => {
      render(<MessageList {...props({ messages: msgs(300), dividerAt: 100 })} />);
      await flush();
      await flush();
      expect(newDivider()).toBeTruthy();
      expect(belowDivider()).toBe('message 102');
      expect(screen.queryByText('message 300')).toBeNull();
    });
  });

  describe('editing and deleting your messages', () => {
    // alice (you): 1, 2; bob: 3.
    const three = () => msgs(3);

    it('offers Edit and Delete on your sent messages only, not on others’, pending ones or tombstones', async () => {
      const pending: PendingMessage[] = [{ clientMsgId: 'c1', text: 'on its way', status: 'sending', ts: T0 + 10 * 60_000 }];
      const messages = [...three(), { ...msgs(1, 4)[0]!, text: '', deleted: true as const }];
      render(<MessageList {...props({ messages, pending })} />);
      await flush();
      for (const own of ['message 1', 'message 2']) {
        expect(within(article(own)).getByRole('button', { name: 'Edit message' })).toBeTruthy();
        expect(within(article(own)).getByRole('button', { name: 'Delete message' })).toBeTruthy();
      }
      expect(within(article('message 3')).queryByRole('button')).toBeNull();
      expect(within(article('on its way')).queryByRole('button', { name: /message/ })).toBeNull();
      expect(screen.getAllByRole('button', { name: 'Edit message' })).toHaveLength(2);
    });

    it('edits in place: prefilled, Shift+Enter for a new line, Enter saves, read-only while saving, focus back on Edit', async () => {
      const user = userEvent.setup();
      const reply = deferred();
      const onEditMessage = vi.fn(() => reply.promise);
      const { rerender } = render(<MessageList {...props({ messages: three(), onEditMessage })} />);
      await flush();
      await user.click(within(article('message 2')).getByRole('button', { name: 'Edit message' }));
      const editor = screen.getByRole('textbox', { name: 'Edit message' }) as HTMLTextAreaElement;
      expect(editor.value).toBe('message 2');
      expect(document.activeElement).toBe(editor);
      expect(editor.getAttribute('dir')).toBe('auto');
      await user.keyboard(' fixed{Shift>}{Enter}{/Shift}second line');
      expect(onEditMessage).not.toHaveBeenCalled();
      await user.keyboard('{Enter}');
      expect(onEditMessage).toHaveBeenCalledWith(2, 'message 2 fixed\nsecond line');
      expect(editor.readOnly).toBe(true);
      expect((screen.getByRole('button', { name: 'Saving…' }) as HTMLButtonElement).disabled).toBe(true);
      expect((screen.getByRole('button', { name: 'Cancel' }) as HTMLButtonElement).disabled).toBe(true);
      // Enter again while it saves sends nothing more.
      await user.keyboard('{Enter}');
      expect(onEditMessage).toHaveBeenCalledTimes(1);
      await act(async () => reply.resolve());
      expect(screen.queryByRole('textbox', { name: 'Edit message' })).toBeNull();
      expect(document.activeElement).toBe(within(article('message 2')).getByRole('button', { name: 'Edit message' }));
      // The store's copy comes back edited: the new text, marked, with when in its title.
      const editedAt = T0 + 30 * 60_000;
      const edited = three().map((m) => (m.seq === 2 ? { ...m, text: 'message 2 fixed\nsecond line', editSeq: 4, editedAt } : m));
      rerender(<MessageList {...props({ messages: edited, onEditMessage })} />);
      await flush();
      const text = [...document.querySelectorAll('.msg-text')].find((n) => n.textContent === 'message 2 fixed\nsecond line')!;
      const mark = within(text.closest('article')!).getByText('(edited)');
      expect(mark.getAttribute('title')).toBe(`Edited ${formatFull(editedAt)}`);
      expect(within(article('message 1')).queryByText('(edited)')).toBeNull();
    });

    it('cancels with Escape or Cancel, sending nothing and keeping the old text', async () => {
      const user = userEvent.setup();
      const onEditMessage = vi.fn(async () => undefined);
      render(<MessageList {...props({ messages: three(), onEditMessage })} />);
      await flush();
      const editButton = () => within(article('message 1')).getByRole('button', { name: 'Edit message' });
      await user.click(editButton());
      await user.keyboard(' and more{Escape}');
      expect(screen.queryByRole('textbox', { name: 'Edit message' })).toBeNull();
      expect(screen.getByText('message 1')).toBeTruthy();
      expect(document.activeElement).toBe(editButton());
      await user.click(editButton());
      await user.keyboard(' and more');
      await user.click(screen.getByRole('button', { name: 'Cancel' }));
      expect(screen.queryByRole('textbox', { name: 'Edit message' })).toBeNull();
      // Unchanged text is no edit either.
      await user.click(editButton());
      await user.keyboard('{Enter}');
      expect(screen.queryByRole('textbox', { name: 'Edit message' })).toBeNull();
      expect(onEditMessage).not.toHaveBeenCalled();
    });

    it('shows a refusal inline and keeps the text to try again; an empty edit is refused before sending', async () => {
      const user = userEvent.setup();
      const onEditMessage = vi.fn().mockRejectedValueOnce(new ChatError('message_not_found', 'That message is gone.')).mockResolvedValueOnce(undefined);
      render(<MessageList {...props({ messages: three(), onEditMessage })} />);
      await flush();
      await user.click(within(article('message 1')).getByRole('button', { name: 'Edit message' }));
      const editor = screen.getByRole('textbox', { name: 'Edit message' }) as HTMLTextAreaElement;
      await user.clear(editor);
      await user.keyboard('{Enter}');
      expect(screen.getByRole('alert').textContent).toBe('A message cannot be empty. Delete it instead.');
      expect(onEditMessage).not.toHaveBeenCalled();
      await user.keyboard('new words{Enter}');
      await vi.waitFor(() => expect(screen.getByRole('alert').textContent).toBe('Not saved: That message is gone.'));
      expect(editor.value).toBe('new words');
      expect(editor.readOnly).toBe(false);
      expect(editor.getAttribute('aria-invalid')).toBe('true');
      await user.click(screen.getByRole('button', { name: 'Save' }));
      expect(onEditMessage).toHaveBeenLastCalledWith(1, 'new words');
      await vi.waitFor(() => expect(screen.queryByRole('textbox', { name: 'Edit message' })).toBeNull());
    });

    it('asks before deleting, then shows a tombstone without actions', async () => {
      const user = userEvent.setup();
      const reply = deferred();
      const onDeleteMessage = vi.fn(() => reply.promise);
      const { rerender } = render(<MessageList {...props({ messages: three(), onDeleteMessage })} />);
      await flush();
      await user.click(within(article('message 2')).getByRole('button', { name: 'Delete message' }));
      const confirm = screen.getByRole('group', { name: 'Delete this message?' });
      // The safe choice has focus, and Escape backs out.
      expect(document.activeElement).toBe(within(confirm).getByRole('button', { name: 'Cancel' }));
      await user.keyboard('{Escape}');
      expect(screen.queryByRole('group', { name: 'Delete this message?' })).toBeNull();
      expect(document.activeElement).toBe(within(article('message 2')).getByRole('button', { name: 'Delete message' }));
      expect(onDeleteMessage).not.toHaveBeenCalled();

      await user.click(within(article('message 2')).getByRole('button', { name: 'Delete message' }));
      await user.click(within(screen.getByRole('group', { name: 'Delete this message?' })).getByRole('button', { name: 'Delete' }));
      expect(onDeleteMessage).toHaveBeenCalledWith(2);
      expect((screen.getByRole('button', { name: 'Deleting…' }) as HTMLButtonElement).disabled).toBe(true);
      await act(async () => reply.resolve());
      const deleted = three().map((m) => (m.seq === 2 ? { ...m, text: '', deleted: true as const, editSeq: 4, editedAt: T0 + DAY } : m));
      rerender(<MessageList {...props({ messages: deleted, onDeleteMessage })} />);
      await flush();
      const tombstone = screen.getByText('This message was deleted.');
      expect(tombstone.className).toContain('msg-deleted');
      const row = tombstone.closest('article')!;
      expect(within(row).queryByRole('button')).toBeNull();
      expect(within(row).queryByText('(edited)')).toBeNull();
      // Focus does not fall to the page's start with the buttons that went.
      expect(document.activeElement).toBe(scroller());
    });

    it('keeps the confirmation open with the reason when the delete is refused', async () => {
      const user = userEvent.setup();
      const onDeleteMessage = vi.fn().mockRejectedValue(new ChatError('forbidden', 'That is not your message.'));
      render(<MessageList {...props({ messages: three(), onDeleteMessage })} />);
      await flush();
      await user.click(within(article('message 1')).getByRole('button', { name: 'Delete message' }));
      await user.click(screen.getByRole('button', { name: 'Delete' }));
      await vi.waitFor(() => expect(screen.getByRole('alert').textContent).toBe('Not deleted: That is not your message.'));
      expect(screen.getByRole('group', { name: 'Delete this message?' })).toBeTruthy();
      expect(screen.getByText('message 1')).toBeTruthy();
    });

    it('shows others’ deleted messages as tombstones too', async () => {
      const messages = three().map((m) => (m.seq === 3 ? { ...m, text: '', deleted: true as const } : m));
      render(<MessageList {...props({ messages })} />);
      await flush();
      const row = screen.getByText('This message was deleted.').closest('article')!;
      expect(row.getAttribute('aria-label')).toContain('bob');
    });
  });
});
