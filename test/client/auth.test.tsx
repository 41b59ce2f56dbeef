// @vitest-environment jsdom
/**
 * The auth screens against the run's real cognito-local (started by the
 * global setup): sign up, confirm with the on-screen local code, sign in,
 * the local token refresher, and the human error messages.
 */
import { cleanup, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { fetchAuthSession, signOut } from 'aws-amplify/auth';
import { afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import AuthScreen from '../../src/auth/AuthScreen';
import { getSessionUser } from '../../src/auth/session';
import { setupAmplify, type AppConfig } from '../../src/config';

const waitFor = <T,>(fn: () => T) => vi.waitFor(fn, { timeout: 8000, interval: 25 });

let config: AppConfig;
beforeAll(() => {
  const cognito = inject('cognito');
  config = setupAmplify({
    version: '1.4',
    auth: {
      aws_region: 'local',
      user_pool_id: cognito.userPoolId,
      user_pool_client_id: cognito.clientId,
      password_policy: { min_length: 8, require_lowercase: true, require_numbers: true, require_symbols: true, require_uppercase: true },
    },
    custom: { websocketUrl: 'ws://127.0.0.1:9/unused', region: 'local', local: { userPoolEndpoint: cognito.endpoint, confirmationCode: '123456' } },
  });
});
afterEach(async () => {
  cleanup();
  await signOut().catch(() => undefined);
});

const unique = () => `u${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

async function signUp(user: ReturnType<typeof userEvent.setup>, email: string, name: string, password: string) {
  await user.click(screen.getByRole('tab', { name: 'Create account' }));
  await user.type(screen.getByLabelText('Email'), email);
  await user.type(screen.getByLabelText('Display name'), name);
  await user.type(screen.getByLabelText('Password'), password);
  await user.click(screen.getByRole('button', { name: 'Create account' }));
}

describe('AuthScreen with cognito-local', () => {
  it('signs up, confirms with the local code shown on screen, and is signed in as the display name', async () => {
    const onSignedIn = vi.fn();
    const user = userEvent.setup();
    render(<AuthScreen config={config} onSignedIn={onSignedIn} />);
    const name = unique();
    await signUp(user, `${name}@example.com`, name, 'Str0ng!pass');
    await waitFor(() => expect(screen.getByRole('heading', { name: 'Check your email' })).toBeTruthy());
    expect(screen.getByText('123456')).toBeTruthy();
    await user.type(screen.getByLabelText('Confirmation code'), '000000');
    await user.click(screen.getByRole('button', { name: 'Confirm and continue' }));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toBe('That code is not right. Check it and try again.'));
    await user.clear(screen.getByLabelText('Confirmation code'));
    await user.click(screen.getByRole('button', { name: 'Fill it in' }));
    await user.click(screen.getByRole('button', { name: 'Confirm and continue' }));
    await waitFor(() => expect(onSignedIn).toHaveBeenCalled());
    const me = await getSessionUser();
    expect(me?.name).toBe(name);
    expect(me?.id).toMatch(/.+/);

    // cognito-local cannot answer GetTokensFromRefreshToken; the local refresher uses InitiateAuth instead.
    const before = (await fetchAuthSession()).tokens?.idToken?.toString();
    await new Promise((r) => setTimeout(r, 1100)); // a new iat, so a new token
    const after = (await fetchAuthSession({ forceRefresh: true })).tokens?.idToken;
    expect(after?.toString()).toBeTruthy();
    expect(after?.toString()).not.toBe(before);
    expect(after?.payload.preferred_username).toBe(name);
  });

  it('explains weak passwords, taken emails and wrong passwords in plain words', async () => {
    const user = userEvent.setup();
    const name = unique();
    const email = `${name}@example.com`;
    const { unmount } = render(<AuthScreen config={config} onSignedIn={vi.fn()} />);
    await signUp(user, email, name, 'weak');
    expect(screen.getByRole('alert').textContent).toContain('Your password needs at least 8 characters');
    await user.clear(screen.getByLabelText('Password'));
    await user.type(screen.getByLabelText('Password'), 'Str0ng!pass');
    await user.click(screen.getByRole('button', { name: 'Create account' }));
    await waitFor(() => expect(screen.getByRole('heading', { name: 'Check your email' })).toBeTruthy());
    unmount();

    render(<AuthScreen config={config} onSignedIn={vi.fn()} />);
    await signUp(user, email, `${name}x`, 'Str0ng!pass');
    await waitFor(() => expect(screen.getByRole('alert').textContent).toBe('An account with this email already exists. Sign in instead.'));
    await user.click(screen.getByRole('tab', { name: 'Sign in' }));
    await user.type(screen.getByLabelText('Email'), email);
    await user.type(screen.getByLabelText('Password'), 'Wr0ng!pass');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toBe('Incorrect email or password.'));
  });
});
