import type { ReconnectingSocket } from './connection';

/**
 * Ties a ReconnectingSocket to the browser: no retrying while the OS says there is no
 * network, an immediate attempt when it returns, and a liveness probe when a
 * tab wakes (sockets often die silently while a laptop sleeps).
 */
export function watchBrowser(conn: ReconnectingSocket, win: Window = window): () => void {
  const online = () => conn.setNetwork(true);
  const offline = () => conn.setNetwork(false);
  const wake = () => {
    if (win.document.visibilityState === 'visible') conn.probe();
  };
  win.addEventListener('online', online);
  win.addEventListener('offline', offline);
  win.document.addEventListener('visibilitychange', wake);
  if (win.navigator.onLine === false) conn.setNetwork(false);
  return () => {
    win.removeEventListener('online', online);
    win.removeEventListener('offline', offline);
    win.document.removeEventListener('visibilitychange', wake);
  };
}
