/** The few Cognito calls the app makes, with errors turned into sentences a person can act on. */
import { confirmSignUp, fetchAuthSession, resendSignUpCode, signIn, signOut, signUp } from 'aws-amplify/auth';
import { getConfig, type PasswordPolicy } from '../config';

export interface SessionUser {
  /** Cognito `sub`: the senderId on this user's messages. */
  id: string;
  /** `preferred_username`: the name others see and invite. */
  name: string;
  email?: string;
}

export async function getSessionUser(forceRefresh = false): Promise<SessionUser | null> {
  const { tokens } = await fetchAuthSession({ forceRefresh });
  const claims = tokens?.idToken?.payload;
  if (!claims?.sub) return null;
  const name = typeof claims.preferred_username === 'string' ? claims.preferred_username : String(claims['cognito:username'] ?? claims.email ?? 'you');
  return { id: claims.sub, name, email: typeof claims.email === 'string' ? claims.email : undefined };
}

/** A current ID token for the WebSocket handshake; Amplify refreshes it when it is near expiry. */
export async function getIdToken(): Promise<string | undefined> {
  const { tokens } = await fetchAuthSession();
  return tokens?.idToken?.toString();
}

/** Signs in; 'confirm' means the account exists but its email code was never entered. */
export async function signInUser(email: string, password: string): Promise<'done' | 'confirm'> {
  const { local } = getConfig();
  const res = await signIn({
    username: email.trim(),
    password,
    // cognito-local has no SRP; real Cognito keeps Amplify's default SRP flow.
    options: local ? { authFlowType: 'USER_PASSWORD_AUTH' } : undefined,
  });
  if (res.isSignedIn) return 'done';
  if (res.nextStep.signInStep === 'CONFIRM_SIGN_UP') return 'confirm';
  throw Object.assign(new Error(`This account needs a sign-in step Parley does not support yet (${res.nextStep.signInStep}).`), { name: 'UnsupportedStep' });
}

export async function signUpUser(email: string, password: string, name: string): Promise<'done' | 'confirm'> {
  const res = await signUp({
    username: email.trim(),
    password,
    options: { userAttributes: { email: email.trim(), preferred_username: name.trim() } },
  });
  return res.nextStep.signUpStep === 'CONFIRM_SIGN_UP' ? 'confirm' : 'done';
}

export async function confirmUser(email: string, code: string): Promise<void> {
  await confirmSignUp({ username: email.trim(), confirmationCode: code.trim() });
}

export async function resendCode(email: string): Promise<void> {
  await resendSignUpCode({ username: email.trim() });
}

export async function signOutUser(): Promise<void> {
  await signOut();
}

export function describePolicy(p: PasswordPolicy): string {
  const parts = [p.lowercase && 'a lowercase letter', p.uppercase && 'an uppercase letter', p.numbers && 'a number', p.symbols && 'a symbol'].filter(
    (x): x is string => Boolean(x),
  );
  const list = parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}` : parts[0];
  return `At least ${p.minLength} characters${list ? `, with ${list}` : ''}.`;
}

/** Local checks that save a round trip; the pool's own policy still has the last word. */
export function passwordProblems(password: string, p: PasswordPolicy): string[] {
  const out: string[] = [];
  if (password.length < p.minLength) out.push(`at least ${p.minLength} characters`);
  if (p.lowercase && !/[a-z]/.test(password)) out.push('a lowercase letter');
  if (p.uppercase && !/[A-Z]/.test(password)) out.push('an uppercase letter');
  if (p.numbers && !/[0-9]/.test(password)) out.push('a number');
  if (p.symbols && !/[^A-Za-z0-9]/.test(password)) out.push('a symbol');
  return out;
}

/** Maps Cognito and Amplify failures to a sentence for the form. */
export function authErrorMessage(err: unknown, policy?: PasswordPolicy): string {
  const e = err as { name?: string; message?: string } | null;
  const name = e?.name ?? '';
  switch (name) {
    case 'NotAuthorizedException':
      return /disabled/i.test(e?.message ?? '') ? 'This account has been disabled.' : 'Incorrect email or password.';
    case 'UserNotFoundException':
      return 'No account uses that email address. Create one instead?';
    case 'UsernameExistsException':
      return 'An account with this email already exists. Sign in instead.';
    case 'InvalidPasswordException':
      return `Choose a stronger password. ${policy ? describePolicy(policy) : (e?.message ?? '')}`.trim();
    case 'CodeMismatchException':
      return 'That code is not right. Check it and try again.';
    case 'ExpiredCodeException':
      return 'That code has expired. Send yourself a new one.';
    case 'LimitExceededException':
    case 'TooManyRequestsException':
    case 'TooManyFailedAttemptsException':
      return 'Too many attempts. Wait a minute, then try again.';
    case 'EmptySignInUsername':
    case 'EmptySignUpUsername':
      return 'Enter your email address.';
    case 'EmptySignInPassword':
    case 'EmptySignUpPassword':
      return 'Enter your password.';
    case 'EmptyConfirmSignUpCode':
      return 'Enter the code from the email.';
    case 'NetworkError':
    case 'TypeError':
      return 'Cannot reach the sign-in service. Check your connection and try again.';
    case 'InvalidParameterException':
      return e?.message?.replace(/^.*?:\s*/, '') || 'Some of the details are not valid.';
    default:
      return e?.message || 'Something went wrong. Please try again.';
  }
}
