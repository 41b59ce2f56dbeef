import type { ConnectionState } from '../realtime/types';

/** Says what the connection is doing when it is not simply working. */
export function ConnectionBanner({ state, onRetry }: { state: ConnectionState; onRetry: () => void }) {
  if (state === 'online') return null;
  const text = {
    connecting: 'Connecting…',
    reconnecting: 'Connection lost. Reconnecting… Messages you send will go out when it is back.',
    offline: 'You are offline. Messages you send will go out when you reconnect.',
  }[state];
  return (
    <div className={`banner ${state}`} role="status">
      {state !== 'offline' && <span className="spinner" aria-hidden="true" />}
      <span>{text}</span>
      {state === 'reconnecting' && (
        <button type="button" className="link-button" onClick={onRetry}>
          Retry now
        </button>
      )}
    </div>
  );
}
