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
import { NAME_RULE } from '../../amplify/core/names';
import { cognitoCall } from '../../local/cognito';
import AuthScreen from '../../src/auth/AuthScreen';
import { authProblem, getSessionUser, NAME_TAKEN_TEXT } from '../../src/auth/session';
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
  vi.restoreAllMocks();
  cleanup();
  await signOut().catch(() => undefined);
});

/**
 * Watches the Cognito calls Amplify makes (by their x-amz-target operation),
 * and answers `operation` with a Cognito error instead of cognito-local: for
 * refusals cognito-local cannot be made to give on demand.
 */
function cognitoCalls(refuse?: { operation: string; type: string; message: string }) {
  const real = globalThis.fetch;
  const operations: string[] = [];
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const operation = new Headers(init?.headers).get('x-amz-target')?.split('.').pop() ?? '';
    operations.push(operation);
    if (refuse && operation === refuse.operation) {
      return new Response(JSON.stringify({ __type: refuse.type, message: refuse.message }), {
        status: 400,
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': refuse.type },
      });
    }
    return real(input, init);
  });
  return operations;
}

/** The error shown on the chat name field (its own alert, tied to the input). */
function nameFieldError(): string | null {
  const input = screen.getByLabelText('Chat name');
  if (input.getAttribute('aria-invalid') !== 'true') return null;
  const ids = (input.getAttribute('aria-describedby') ?? '').split(' ');
  const error = ids.map((id) => document.getElementById(id)).find((el) => el?.getAttribute('role') === 'alert');
  return error?.textContent ?? null;
}

const unique = () => `u${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

async function signUp(user: ReturnType<typeof userEvent.setup>, email: string, name: string, password: string) {
  await user.click(screen.getByRole('tab', { name: 'Create account' }));
  await user.type(screen.getByLabelText('Email'), email);
  await user.type(screen.getByLabelText('Chat name'), name);
  await user.type(screen.getByLabelText('Password'), password);
  await user.click(screen.getByRole('button', { name: 'Create my account' }));
}

describe('AuthScreen with cognito-local', () => {
  it('signs up, confirms with the local code shown on screen, and is signed in as the chat name', async () => {
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
    await user.click(screen.getByRole('button', { name: 'Create my account' }));
    await waitFor(() => expect(screen.getByRole('heading', { name: 'Check your email' })).toBeTruthy());
    unmount();

    render(<AuthScreen config={config} onSignedIn={vi.fn()} />);
    await signUp(user, email, `${name}x`, 'Str0ng!pass');
    await waitFor(() => expect(screen.getByRole('alert').textContent).toBe('An account with this email already exists. Sign in instead.'));
    await user.click(screen.getByRole('tab', { name: 'Sign in' }));
    // The form keeps what was typed across tabs.
    expect((screen.getByLabelText('Email') as HTMLInputElement).value).toBe(email);
    await user.clear(screen.getByLabelText('Password'));
    await user.type(screen.getByLabelText('Password'), 'Wr0ng!pass');
    await user.click(screen.getByRole('button', { name: 'Sign in to Parley' }));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toBe('Incorrect email or password.'));
  });

  it('checks the chat name with the sign-up rule before anything is sent, on the name field', async () => {
    const operations = cognitoCalls();
    const user = userEvent.setup();
    render(<AuthScreen config={config} onSignedIn={vi.fn()} />);
    await user.click(screen.getByRole('tab', { name: 'Create account' }));
    await user.type(screen.getByLabelText('Email'), `${unique()}@example.com`);
    await user.type(screen.getByLabelText('Password'), 'Str0ng!pass');
    // The input stops at 32 characters, so a longer name cannot even be typed.
    for (const bad of ['two words', '-dash', 'dot.', 'émile', 'a/b']) {
      await user.clear(screen.getByLabelText('Chat name'));
      await user.type(screen.getByLabelText('Chat name'), bad);
      await user.click(screen.getByRole('button', { name: 'Create my account' }));
      expect(nameFieldError()).toBe(`${NAME_RULE}.`);
      expect(document.activeElement).toBe(screen.getByLabelText('Chat name'));
    }
    expect(operations).not.toContain('SignUp');
    // Typing in the field clears its error.
    await user.type(screen.getByLabelText('Chat name'), 'x');
    expect(nameFieldError()).toBeNull();
  });

  it('shows the sign-up trigger refusing a taken name on the name field, and no account is made', async () => {
    const operations = cognitoCalls({
      operation: 'SignUp',
      type: 'UserLambdaValidationException',
      message: 'PreSignUp failed with error name_taken: That chat name is taken.',
    });
    const onSignedIn = vi.fn();
    const user = userEvent.setup();
    render(<AuthScreen config={config} onSignedIn={onSignedIn} />);
    const name = unique();
    await signUp(user, `${name}@example.com`, name, 'Str0ng!pass');
    await waitFor(() => expect(nameFieldError()).toBe(NAME_TAKEN_TEXT));
    expect(NAME_TAKEN_TEXT).toBe('That chat name is taken; pick another.');
    expect(document.activeElement).toBe(screen.getByLabelText('Chat name'));
    expect(screen.getByRole('heading', { name: 'Create your account' })).toBeTruthy();
    expect(screen.getAllByRole('alert')).toHaveLength(1); // on the field, not also above the button
    expect(operations).toEqual(['SignUp']);
    expect(onSignedIn).not.toHaveBeenCalled();
  });

  it('maps each refusal by its code wherever it sits in the message, and InvalidPasswordException by the form it came from', () => {
    const lambda = (message: string) => Object.assign(new Error(message), { name: 'UserLambdaValidationException' });
    // Cognito's wording, and cognito-local's (it names the function rather than the trigger).
    const taken = { field: 'name', message: NAME_TAKEN_TEXT };
    expect(authProblem(lambda('PreSignUp failed with error name_taken: That chat name is taken.'), 'signUp')).toEqual(taken);
    expect(authProblem(lambda('parley-pre-sign-up failed with error name_taken: That chat name is taken.'), 'signUp')).toEqual(taken);
    expect(authProblem(lambda('PreSignUp failed with error bad_name: no.'), 'signUp')).toEqual({ field: 'name', message: `${NAME_RULE}.` });
    // Any other trigger failure is not the name's fault, and its raw text is not for people.
    const failed = { message: 'Your account could not be created just now. Please try again.' };
    expect(authProblem(lambda('PreSignUp failed with error internal: boom.'), 'signUp')).toEqual(failed);
    const weak = Object.assign(new Error('Password did not conform with policy'), { name: 'InvalidPasswordException' });
    expect(authProblem(weak, 'signUp', config.passwordPolicy).message).toBe(
      'Choose a stronger password. At least 8 characters, with a lowercase letter, an uppercase letter, a number and a symbol.',
    );
    expect(authProblem(weak, 'signIn', config.passwordPolicy)).toEqual({ message: 'Incorrect email or password.' });
    expect(authProblem(weak, 'confirm', config.passwordPolicy)).toEqual({ message: 'Incorrect email or password.' });
  });

  it('checks the email address before anything is sent, on the email field', async () => {
    const operations = cognitoCalls();
    const user = userEvent.setup();
    render(<AuthScreen config={config} onSignedIn={vi.fn()} />);
    const email = screen.getByLabelText('Email');
    await user.type(screen.getByLabelText('Password'), 'Str0ng!pass');
    for (const bad of ['not-an-email', 'a@b', 'a@b.c', 'two words@example.com', '@example.com']) {
      await user.clear(email);
      await user.type(email, bad);
      await user.click(screen.getByRole('button', { name: 'Sign in to Parley' }));
      expect(screen.getByRole('alert').textContent, bad).toBe('Enter a whole email address, like name@example.com.');
      expect(email.getAttribute('aria-invalid')).toBe('true');
      expect(document.activeElement).toBe(email);
    }
    expect(operations).toEqual([]);
    // Typing clears the error; a real address goes through to the pool.
    await user.clear(email);
    expect(screen.queryByRole('alert')).toBeNull();
    await user.type(email, `${unique()}@example.co.uk`);
    await user.click(screen.getByRole('button', { name: 'Sign in to Parley' }));
    await waitFor(() => expect(operations).toContain('InitiateAuth'));
  });

  it('says a wrong password is wrong when signing in, even when the pool answers InvalidPasswordException', async () => {
    cognitoCalls({ operation: 'InitiateAuth', type: 'InvalidPasswordException', message: 'Invalid password' });
    const user = userEvent.setup();
    render(<AuthScreen config={config} onSignedIn={vi.fn()} />);
    await user.type(screen.getByLabelText('Email'), `${unique()}@example.com`);
    await user.type(screen.getByLabelText('Password'), 'Wr0ng!pass');
    await user.click(screen.getByRole('button', { name: 'Sign in to Parley' }));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toBe('Incorrect email or password.'));
  });

  it('refuses a name already claimed, also in another spelling of it, through the real Pre sign-up trigger', async () => {
    const user = userEvent.setup();
    const base = unique();
    const first = render(<AuthScreen config={config} onSignedIn={vi.fn()} />);
    await signUp(user, `${base}@example.com`, base, 'Str0ng!pass');
    await waitFor(() => expect(screen.getByRole('heading', { name: 'Check your email' })).toBeTruthy());
    first.unmount();

    render(<AuthScreen config={config} onSignedIn={vi.fn()} />);
    // Upper case is the same name by the rule's fold (nameKey).
    const second = `${base}-2@example.com`;
    await signUp(user, second, base.toUpperCase(), 'Str0ng!pass');
    await waitFor(() => expect(nameFieldError()).toBe(NAME_TAKEN_TEXT));
    expect(screen.getByRole('heading', { name: 'Create your account' })).toBeTruthy();
    // Refused before any account existed.
    const { endpoint, userPoolId } = inject('cognito');
    await expect(cognitoCall(endpoint, 'AdminGetUser', { UserPoolId: userPoolId, Username: second })).rejects.toMatchObject({ name: 'UserNotFoundException' });
  });
});
