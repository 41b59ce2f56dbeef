// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LIMITS } from '../../amplify/core/protocol';
import { Composer, COUNTER_FROM } from '../../src/chat/Composer';
import { ChatError } from '../../src/realtime/types';

afterEach(cleanup);

const box = () => screen.getByLabelText('Message #lobby') as HTMLTextAreaElement;
const sendButton = () => screen.getByRole('button', { name: 'Send message' }) as HTMLButtonElement;

describe('Composer', () => {
  it('sends on Enter, inserts a newline on Shift+Enter, and clears after sending', async () => {
    const onSend = vi.fn();
    const user = userEvent.setup();
    render(<Composer roomLabel="#lobby" onSend={onSend} />);
    await user.click(box());
    await user.keyboard('first line{Shift>}{Enter}{/Shift}second line');
    expect(onSend).not.toHaveBeenCalled();
    expect(box().value).toBe('first line\nsecond line');
    await user.keyboard('{Enter}');
    expect(onSend).toHaveBeenCalledWith('first line\nsecond line');
    expect(box().value).toBe('');
  });

  it('does not send blank messages', async () => {
    const onSend = vi.fn();
    const user = userEvent.setup();
    render(<Composer roomLabel="#lobby" onSend={onSend} />);
    await user.click(box());
    await user.keyboard('   {Enter}');
    expect(onSend).not.toHaveBeenCalled();
    expect(sendButton().disabled).toBe(true);
  });

  it('shows a counter near the limit and refuses to send past it', async () => {
    const onSend = vi.fn();
    render(<Composer roomLabel="#lobby" onSend={onSend} />);
    fireEvent.change(box(), { target: { value: 'a'.repeat(COUNTER_FROM - 1) } });
    expect(screen.queryByText(/\/ 4,000/)).toBeNull();
    fireEvent.change(box(), { target: { value: 'a'.repeat(3_900) } });
    expect(screen.getByText('3,900 / 4,000')).toBeTruthy();
    expect(sendButton().disabled).toBe(false);
    // Characters, not UTF-16 units: 4,000 emoji are fine.
    fireEvent.change(box(), { target: { value: '😀'.repeat(LIMITS.maxTextChars) } });
    expect(screen.getByText('4,000 / 4,000')).toBeTruthy();
    fireEvent.change(box(), { target: { value: 'a'.repeat(LIMITS.maxTextChars + 12) } });
    expect(screen.getByText('12 characters too long')).toBeTruthy();
    expect(sendButton().disabled).toBe(true);
    expect(box().getAttribute('aria-invalid')).toBe('true');
    fireEvent.keyDown(box(), { key: 'Enter' });
    expect(onSend).not.toHaveBeenCalled();
  });

  it('is disabled with the reason, and offers the way out', async () => {
    const join = vi.fn();
    const user = userEvent.setup();
    render(<Composer roomLabel="#lobby" onSend={vi.fn()} disabledReason="You left #lobby. Join it again to post." disabledAction={{ label: 'Join #lobby', onClick: join }} />);
    expect(box().disabled).toBe(true);
    expect(screen.getByRole('status').textContent).toContain('You left #lobby. Join it again to post.');
    expect(box().getAttribute('aria-describedby')).toContain(screen.getByRole('status').id);
    await user.click(screen.getByRole('button', { name: 'Join #lobby' }));
    expect(join).toHaveBeenCalled();
  });

  it('keeps the text and explains when a message cannot be sent', async () => {
    const onSend = vi.fn(() => {
      throw new ChatError('frame_too_large', 'That is too much to send at once.');
    });
    const user = userEvent.setup();
    render(<Composer roomLabel="#lobby" onSend={onSend} />);
    await user.click(box());
    await user.keyboard('precious words{Enter}');
    expect(box().value).toBe('precious words');
    expect(screen.getByRole('alert').textContent).toContain('That is too much to send at once.');
    // Editing clears the stale error.
    await user.keyboard('!');
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('shows a server error inline without touching what you are typing', async () => {
    const onDismiss = vi.fn();
    const user = userEvent.setup();
    const { rerender } = render(<Composer roomLabel="#lobby" onSend={vi.fn()} onDismissError={onDismiss} />);
    await user.click(box());
    await user.keyboard('draft in progress');
    rerender(<Composer roomLabel="#lobby" onSend={vi.fn()} onDismissError={onDismiss} error="You are sending messages too fast." />);
    expect(screen.getByRole('alert').textContent).toContain('too fast');
    expect(box().value).toBe('draft in progress');
    await user.click(screen.getByRole('button', { name: 'Dismiss error' }));
    expect(onDismiss).toHaveBeenCalled();
  });

  it('reports typing, and keeps drafts through onDraft/initialText', async () => {
    const onTyping = vi.fn();
    const onDraft = vi.fn();
    const user = userEvent.setup();
    render(<Composer roomLabel="#lobby" onSend={vi.fn()} onTyping={onTyping} onDraft={onDraft} initialText="restored" />);
    expect(box().value).toBe('restored');
    await user.click(box());
    await user.keyboard('!');
    expect(onTyping).toHaveBeenCalled();
    expect(onDraft).toHaveBeenLastCalledWith('restored!');
  });
});
