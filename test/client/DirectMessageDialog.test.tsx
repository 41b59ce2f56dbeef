// @vitest-environment jsdom
import { cleanup, render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NAME_RULE } from '../../amplify/core/names';
import { DirectMessageDialog, validateDmName } from '../../src/chat/DirectMessageDialog';
import { ChatError } from '../../src/realtime/types';

afterEach(cleanup);

function deferred() {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function setup(onOpen: (name: string) => Promise<unknown> = vi.fn(async () => 'dbob')) {
  const onClose = vi.fn();
  const open = vi.fn(onOpen);
  render(<DirectMessageDialog open selfName="alice" onClose={onClose} onOpen={open} />);
  const dialog = screen.getByRole('dialog', { name: 'Start a direct message' });
  const input = within(dialog).getByLabelText('Their chat name') as HTMLInputElement;
  const submit = () => within(dialog).getByRole('button', { name: /Open conversation|Opening/ });
  return { dialog, input, submit, onClose, onOpen: open, user: userEvent.setup() };
}

describe('DirectMessageDialog', () => {
  it('opens the conversation by the name typed, without the @ or spaces, and closes', async () => {
    const { input, submit, onOpen, onClose, user } = setup();
    await user.type(input, '  @bob ');
    await user.click(submit());
    expect(onOpen).toHaveBeenCalledWith('bob');
    await vi.waitFor(() => expect(onClose).toHaveBeenCalledTimes(1));
  });

  it('checks the name with the sign-up rule before asking the server', async () => {
    const { dialog, input, submit, onOpen, user } = setup();
    await user.click(submit());
    expect(within(dialog).getByRole('alert').textContent).toBe('Enter the chat name of the person you want to write to.');
    await user.type(input, 'not a name!');
    // Typing again clears the old complaint; the field is marked invalid only while one shows.
    expect(within(dialog).queryByRole('alert')).toBeNull();
    await user.click(submit());
    expect(within(dialog).getByRole('alert').textContent).toBe(`${NAME_RULE}.`);
    expect(input.getAttribute('aria-invalid')).toBe('true');
    expect(input.getAttribute('aria-describedby')).toContain(within(dialog).getByRole('alert').id);
    await user.clear(input);
    // ALICE is alice by the name rule: writing to yourself is caught here too.
    await user.type(input, 'ALICE');
    await user.click(submit());
    expect(within(dialog).getByRole('alert').textContent).toContain('That is you');
    expect(onOpen).not.toHaveBeenCalled();
  });

  it('says who is not here when the server does not know the name, and keeps the dialog and the text', async () => {
    const { dialog, input, submit, onClose, user } = setup(async () => {
      throw new ChatError('unknown_user', 'No user called zed');
    });
    await user.type(input, 'zed');
    await user.click(submit());
    await vi.waitFor(() => expect(within(dialog).getByRole('alert').textContent).toBe('Nobody here is called “zed”.'));
    expect(input.value).toBe('zed');
    expect(onClose).not.toHaveBeenCalled();
  });

  it('shows any other refusal in the server’s words, and is busy while it waits', async () => {
    const reply = deferred();
    const { dialog, input, submit, user } = setup(() => reply.promise);
    await user.type(input, 'bob');
    await user.click(submit());
    expect(submit().textContent).toBe('Opening…');
    expect((submit() as HTMLButtonElement).disabled).toBe(true);
    reply.reject(new ChatError('limit_reached', 'You are in 200 private rooms already.'));
    await vi.waitFor(() => expect(within(dialog).getByRole('alert').textContent).toBe('You are in 200 private rooms already.'));
    expect(submit().textContent).toBe('Open conversation');
    expect((submit() as HTMLButtonElement).disabled).toBe(false);
  });

  it('cancels with its Cancel button', async () => {
    const { dialog, onClose, onOpen, user } = setup();
    await user.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(onClose).toHaveBeenCalledTimes(1);
    expect(onOpen).not.toHaveBeenCalled();
  });
});

describe('validateDmName', () => {
  it('accepts chat names, refuses the rest and yourself by the name rule', () => {
    expect(validateDmName('bob', 'alice')).toBeUndefined();
    expect(validateDmName('bob.smith-2', 'alice')).toBeUndefined();
    expect(validateDmName('-bob', 'alice')).toBe(`${NAME_RULE}.`);
    expect(validateDmName('al1ce', 'alice')).toContain('That is you');
    expect(validateDmName('', 'alice')).toBeDefined();
  });
});
