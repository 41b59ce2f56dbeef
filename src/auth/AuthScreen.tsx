import { useId, useRef, useState } from 'react';
import { nameProblem } from '../../amplify/core/names';
import type { AppConfig } from '../config';
import { authProblem, confirmUser, describePolicy, emailProblem, passwordProblems, resendCode, signInUser, signUpUser } from './session';

type Step = 'signIn' | 'signUp' | 'confirm';

export interface AuthScreenProps {
  config: AppConfig;
  onSignedIn: () => void;
}

export default function AuthScreen({ config, onSignedIn }: AuthScreenProps) {
  const [step, setStep] = useState<Step>('signIn');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [name, setName] = useState('');
  const [code, setCode] = useState('');
  const [error, setError] = useState<string>();
  /** A problem with the chat name, shown on its field: the local rule, or the sign-up trigger's refusal. */
  const [nameError, setNameError] = useState<string>();
  const nameRef = useRef<HTMLInputElement>(null);
  const [emailError, setEmailError] = useState<string>();
  const emailRef = useRef<HTMLInputElement>(null);
  const [info, setInfo] = useState<string>();
  const [busy, setBusy] = useState(false);
  const id = useId();
  const policy = config.passwordPolicy;

  const go = (next: Step) => {
    setStep(next);
    setError(undefined);
    setNameError(undefined);
    setEmailError(undefined);
    setInfo(undefined);
  };

  /** Checked before any round trip: Cognito's own message for a bad address is not for people, and it takes `a@b`. */
  const emailOk = (): boolean => {
    const problem = emailProblem(email);
    setEmailError(problem);
    if (problem) emailRef.current?.focus();
    return !problem;
  };

  const showNameError = (message: string) => {
    setNameError(message);
    nameRef.current?.focus();
  };

  const run = async (fn: () => Promise<void>) => {
    const from = step;
    setBusy(true);
    setError(undefined);
    try {
      await fn();
    } catch (err) {
      const problem = authProblem(err, from, policy);
      if (problem.field === 'name') showNameError(problem.message);
      else setError(problem.message);
    } finally {
      setBusy(false);
    }
  };

  const signIn = () =>
    run(async () => {
      if (!emailOk()) return;
      const result = await signInUser(email, password);
      if (result === 'confirm') {
        go('confirm');
        setInfo('Confirm your email address to finish signing in.');
        return;
      }
      onSignedIn();
    });

  const signUp = () =>
    run(async () => {
      // The rule the sign-up trigger applies, checked first so a bad name costs no round trip.
      if (!emailOk()) return;
      const badName = nameProblem(name.trim());
      const problems = passwordProblems(password, policy);
      setNameError(badName && `${badName}.`);
      if (problems.length) setError(`Your password needs ${problems.join(', ')}.`);
      if (badName) nameRef.current?.focus();
      if (badName || problems.length) return;
      const result = await signUpUser(email, password, name);
      if (result === 'confirm') {
        go('confirm');
        return;
      }
      await signInUser(email, password);
      onSignedIn();
    });

  const confirm = () =>
    run(async () => {
      await confirmUser(email, code);
      // With the password still in hand, finish signing in rather than asking again.
      if (password) {
        await signInUser(email, password);
        onSignedIn();
      } else {
        go('signIn');
        setInfo('Email confirmed. Sign in to continue.');
      }
    });

  const titles: Record<Step, string> = { signIn: 'Welcome back', signUp: 'Create your account', confirm: 'Check your email' };

  return (
    <main className="auth">
      <div className="auth-card">
        <div className="brand large">
          <span className="brand-mark" aria-hidden="true">
            P
          </span>
          <span className="brand-name">Parley</span>
        </div>
        <h1>{titles[step]}</h1>
        {step !== 'confirm' && (
          <div
            className="tabs"
            role="tablist"
            aria-label="Account"
            onKeyDown={(e) => {
              // Arrow keys move between the two tabs, as the tabs pattern expects.
              if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
              const next = step === 'signIn' ? 'signUp' : 'signIn';
              go(next);
              document.getElementById(`${id}-tab-${next}`)?.focus();
            }}
          >
            {(['signIn', 'signUp'] as const).map((t) => (
              <button
                key={t}
                id={`${id}-tab-${t}`}
                type="button"
                role="tab"
                aria-selected={step === t}
                aria-controls={`${id}-panel`}
                tabIndex={step === t ? 0 : -1}
                onClick={() => go(t)}
              >
                {t === 'signIn' ? 'Sign in' : 'Create account'}
              </button>
            ))}
          </div>
        )}
        <div id={`${id}-panel`} role={step === 'confirm' ? undefined : 'tabpanel'} aria-labelledby={step === 'confirm' ? undefined : `${id}-tab-${step}`}>
          <form
            noValidate
            onSubmit={(e) => {
              e.preventDefault();
              if (busy) return;
              void (step === 'signIn' ? signIn() : step === 'signUp' ? signUp() : confirm());
            }}
          >
            {step === 'confirm' ? (
              <>
                <p className="muted">
                  We sent a code to <strong>{email}</strong>. Enter it below.
                </p>
                {config.local && (
                  <p className="local-note">
                    Local mode: no email is sent. Your code is <code>{config.local.confirmationCode}</code>.{' '}
                    <button type="button" className="link-button" onClick={() => setCode(config.local?.confirmationCode ?? '')}>
                      Fill it in
                    </button>
                  </p>
                )}
                <div className="field">
                  <label htmlFor={`${id}-code`}>Confirmation code</label>
                  <input
                    id={`${id}-code`}
                    value={code}
                    onChange={(e) => setCode(e.target.value)}
                    inputMode="numeric"
                    autoComplete="one-time-code"
                    required
                    autoFocus
                  />
                </div>
              </>
            ) : (
              <>
                <div className="field">
                  <label htmlFor={`${id}-email`}>Email</label>
                  <input
                    id={`${id}-email`}
                    ref={emailRef}
                    type="email"
                    value={email}
                    onChange={(e) => {
                      setEmail(e.target.value);
                      setEmailError(undefined);
                    }}
                    autoComplete="email"
                    required
                    autoFocus
                    aria-invalid={emailError ? true : undefined}
                    aria-describedby={emailError ? `${id}-email-error` : undefined}
                  />
                  {emailError && (
                    <p id={`${id}-email-error`} className="field-error" role="alert">
                      {emailError}
                    </p>
                  )}
                </div>
                {step === 'signUp' && (
                  <div className="field">
                    <label htmlFor={`${id}-name`}>Chat name</label>
                    <input
                      id={`${id}-name`}
                      ref={nameRef}
                      value={name}
                      onChange={(e) => {
                        setName(e.target.value);
                        setNameError(undefined);
                      }}
                      autoComplete="nickname"
                      spellCheck={false}
                      maxLength={32}
                      required
                      aria-invalid={nameError ? true : undefined}
                      aria-describedby={nameError ? `${id}-name-error ${id}-name-hint` : `${id}-name-hint`}
                    />
                    {nameError && (
                      <p id={`${id}-name-error`} className="field-error" role="alert">
                        {nameError}
                      </p>
                    )}
                    <p id={`${id}-name-hint`} className="field-hint">
                      How others see and invite you: letters, numbers, and . _ - between them. It is yours for good and cannot be changed later.
                    </p>
                  </div>
                )}
                <div className="field">
                  <label htmlFor={`${id}-password`}>Password</label>
                  <input
                    id={`${id}-password`}
                    type="password"
                    value={password}
                    onChange={(e) => setPassword(e.target.value)}
                    autoComplete={step === 'signUp' ? 'new-password' : 'current-password'}
                    required
                    aria-describedby={step === 'signUp' ? `${id}-password-hint` : undefined}
                  />
                  {step === 'signUp' && (
                    <p id={`${id}-password-hint`} className="field-hint">
                      {describePolicy(policy)}
                    </p>
                  )}
                </div>
              </>
            )}
            {info && (
              <p className="form-info" role="status">
                {info}
              </p>
            )}
            {error && (
              <p className="form-error" role="alert">
                {error}
              </p>
            )}
            <button type="submit" className="button primary block" disabled={busy}>
              {/* Not the tabs' words, so "Sign in" names one control, not two. */}
              {busy ? 'Please wait…' : step === 'signIn' ? 'Sign in to Parley' : step === 'signUp' ? 'Create my account' : 'Confirm and continue'}
            </button>
            {step === 'confirm' && (
              <p className="auth-alt">
                <button
                  type="button"
                  className="link-button"
                  onClick={() =>
                    void run(async () => {
                      await resendCode(email);
                      setInfo('A new code is on its way.');
                    })
                  }
                >
                  Send a new code
                </button>
                {' · '}
                <button type="button" className="link-button" onClick={() => go('signIn')}>
                  Back to sign in
                </button>
              </p>
            )}
          </form>
        </div>
      </div>
    </main>
  );
}
