import { lazy, Suspense, useCallback, useEffect, useState } from 'react';
import { Hub } from 'aws-amplify/utils';
import type { AppConfig } from './config';
import { getIdToken, getSessionUser, signOutUser, type SessionUser } from './auth/session';

// Each screen is its own chunk: signing in never downloads the chat, and vice versa.
const AuthScreen = lazy(() => import('./auth/AuthScreen'));
const ChatScreen = lazy(() => import('./chat/ChatScreen'));

type Session = { status: 'loading' } | { status: 'signedOut' } | { status: 'signedIn'; user: SessionUser };

export function App({ config }: { config: AppConfig }) {
  const [session, setSession] = useState<Session>({ status: 'loading' });

  const refresh = useCallback(async () => {
    try {
      const user = await getSessionUser();
      setSession(user ? { status: 'signedIn', user } : { status: 'signedOut' });
    } catch {
      setSession({ status: 'signedOut' });
    }
  }, []);

  useEffect(() => {
    // The session is read outside React and set when it arrives, as a subscription would.
    let live = true;
    getSessionUser().then(
      (user) => live && setSession(user ? { status: 'signedIn', user } : { status: 'signedOut' }),
      () => live && setSession({ status: 'signedOut' }),
    );
    // Another tab signing out, or a refresh token that stopped working, ends this session too.
    const stopListening = Hub.listen('auth', ({ payload }) => {
      if (payload.event === 'signedOut' || payload.event === 'tokenRefresh_failure') setSession({ status: 'signedOut' });
    });
    return () => {
      live = false;
      stopListening();
    };
  }, []);

  const signOut = useCallback(async () => {
    try {
      await signOutUser();
    } finally {
      setSession({ status: 'signedOut' });
    }
  }, []);

  if (session.status === 'loading') return <div className="splash" aria-busy="true" />;
  return (
    <Suspense fallback={<div className="splash" aria-busy="true" />}>
      {session.status === 'signedIn' ? (
        <ChatScreen user={session.user} websocketUrl={config.websocketUrl} regions={config.regions} getToken={getIdToken} onSignOut={() => void signOut()} />
      ) : (
        <AuthScreen config={config} onSignedIn={() => void refresh()} />
      )}
    </Suspense>
  );
}
