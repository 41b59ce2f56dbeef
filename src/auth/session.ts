/** The few Cognito calls the app makes, with errors turned into sentences a person can act on. */
import { confirmSignUp, fetchAuthSession, resendSignUpCode, signIn, signOut, signUp } from 'aws-amplify/auth';
import { NAME_RULE, SIGN_UP_REFUSALS } from '../../amplify/core/names';
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

/**
 * A current ID token for the WebSocket handshake. Amplify refreshes it when it
 * is near expiry by its own clock; `forceRefresh` asks Cognito for a new one
 * regardless (through the local REFRESH_TOKEN_AUTH refresher in local mode),
 * for when the server has said the token expired.
 */
export async function getIdToken(opts: { forceRefresh?: boolean } = {}): Promise<string | undefined> {
  const { tokens } = await fetchAuthSession({ forceRefresh: opts.forceRefresh ?? false });
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

/** The form a failure came from: one Cognito error can mean different things on different forms. */
export type AuthStep = 'signIn' | 'signUp' | 'confirm';

export interface AuthProblem {
  message: string;
  /** The field the problem belongs to, shown beside it; otherwise it is about the whole form. */
  field?: 'name';
}

export const NAME_TAKEN_TEXT = 'That chat name is taken; pick another.';

/**
 * The Pre sign-up trigger's refusal of a chat name. Cognito reports it as
 * UserLambdaValidationException, "PreSignUp failed with error name_taken: …"
 * (cognito-local: "<function> failed with error name_taken: …"), so the code
 * is looked for anywhere in the message. No account exists after either.
 */
export function signUpRefusal(err: unknown): keyof typeof SIGN_UP_REFUSALS | undefined {
  const message = (err as { message?: unknown } | null)?.message;
  if (typeof message !== 'string') return undefined;
  for (const [kind, code] of Object.entries(SIGN_UP_REFUSALS) as [keyof typeof SIGN_UP_REFUSALS, string][]) {
    if (new RegExp(`\\b${code}\\b`).test(message)) return kind;
  }
  return undefined;
}

/**
 * Why an email address cannot be right, or undefined. Deliberately loose (the
 * confirmation code proves the address): something, one @, a domain with a dot
 * and a top-level part of two letters or more.
 */
export function emailProblem(email: string): string | undefined {
  const e = email.trim();
  if (!e) return 'Enter your email address.';
  if (!/^[^\s@]+@[^\s@.]+(\.[^\s@.]+)*\.[^\s@.]{2,}$/.test(e)) return 'Enter a whole email address, like name@example.com.';
  return undefined;
}

/** Maps Cognito and Amplify failures to a sentence for the form, and the field it is about. */
export function authProblem(err: unknown, step: AuthStep, policy?: PasswordPolicy): AuthProblem {
  if (step === 'signUp') {
    const refusal = signUpRefusal(err);
    if (refusal === 'taken') return { field: 'name', message: NAME_TAKEN_TEXT };
    if (refusal === 'invalid') return { field: 'name', message: `${NAME_RULE}.` };
  }
  return { message: authErrorMessage(err, step, policy) };
}

/** Maps Cognito and Amplify failures to a sentence for the form. */
export function authErrorMessage(err: unknown, step: AuthStep, policy?: PasswordPolicy): string {
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
      // Only a new password can be too weak; signing in, it means the password is wrong (cognito-local says so this way).
      if (step !== 'signUp') return 'Incorrect email or password.';
      return `Choose a stronger password. ${policy ? describePolicy(policy) : (e?.message ?? '')}`.trim();
    case 'UserLambdaValidationException':
    case 'UnexpectedLambdaException':
      // A Cognito trigger failed for a reason of its own; its message is not for people.
      return step === 'signUp' ? 'Your account could not be created just now. Please try again.' : 'Signing in failed just now. Please try again.';
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
