import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { DEFAULT_ROOM } from '../../amplify/core/protocol';
import type { SessionUser } from '../auth/session';
import { watchBrowser } from '../realtime/browser';
import { ChatSocket, type ChatSocketOptions } from '../realtime/socket';
import { Composer } from './Composer';
import { ConnectionBanner } from './ConnectionBanner';
import { CreateRoomDialog } from './CreateRoomDialog';
import { typingText } from './format';
import { MembersPanel } from './MembersPanel';
import { MessageList } from './MessageList';
import { useMediaQuery } from './useMediaQuery';
import { LockIcon, PeopleIcon } from './icons';
import { Sidebar, type SidebarRoom } from './Sidebar';
import { ChatStore, roomLabelOf, visiblePending, type RoomView } from './store';

export interface ChatScreenProps {
  user: SessionUser;
  websocketUrl: string;
  /** A current ID token, or undefined when the session is gone; `forceRefresh` when the server said it expired. */
  getToken: (opts: { forceRefresh: boolean }) => Promise<string | undefined>;
  onSignOut: () => void;
  /** Transport tuning; tests pass a Node WebSocket here. */
  socketOptions?: Partial<Omit<ChatSocketOptions, 'getUrl'>>;
}

/** How a room is named in text: "#name" for public rooms, the bare name for private ones (drawn with a lock). */
const roomLabel = (room: RoomView | undefined, id: string) => {
  const label = roomLabelOf(room);
  return (label?.private ? '' : '#') + (label?.name ?? id);
};

export default function ChatScreen({ user, websocketUrl, getToken, onSignOut, socketOptions }: ChatScreenProps) {
  const [store, setStore] = useState<ChatStore>();
  const tokenRef = useRef(getToken);
  const signOutRef = useRef(onSignOut);
  // The socket calls the latest of these, whichever render they came from.
  useLayoutEffect(() => {
    tokenRef.current = getToken;
    signOutRef.current = onSignOut;
  });
  // Read once, at the first render: changing them later does not rebuild the socket.
  const [initialSocketOptions] = useState(socketOptions);

  useEffect(() => {
    const socket = new ChatSocket({
      ...initialSocketOptions,
      getUrl: async ({ refresh }) => {
        const token = await tokenRef.current({ forceRefresh: refresh });
        if (!token) {
          signOutRef.current();
          throw new Error('Signed out');
        }
        const url = new URL(websocketUrl);
        url.searchParams.set('token', token);
        return url.toString();
      },
    });
    const s = new ChatStore(socket, { id: user.id, name: user.name });
    s.start();
    const unwatch = watchBrowser(socket.connection);
    setStore(s);
    return () => {
      unwatch();
      s.dispose();
    };
  }, [user.id, user.name, websocketUrl, initialSocketOptions]);

  if (!store) return <div className="splash" aria-busy="true" />;
  return <ChatLayout store={store} onSignOut={onSignOut} />;
}

function ChatLayout({ store, onSignOut }: { store: ChatStore; onSignOut: () => void }) {
  const state = useSyncExternalStore(store.subscribe, store.getSnapshot);
  const { me, current, rooms, directory, connection } = state;
  const room = rooms[current];
  const label = roomLabel(room, current);
  const narrow = useMediaQuery('(max-width: 760px)');
  const wide = useMediaQuery('(min-width: 1100px)');
  const finePointer = useMediaQuery('(pointer: fine)');
  const [navOpen, setNavOpen] = useState(false);
  const [membersOpen, setMembersOpen] = useState(wide);
  const [creating, setCreating] = useState(false);
  const [opened, setOpened] = useState(0);
  // One Map for the component's life; writing a draft into it must not re-render.
  const [drafts] = useState(() => new Map<string, string>());
  const [composerKey, setComposerKey] = useState(0);

  // Reading the current room in a visible tab clears its unread count.
  useEffect(() => {
    const seen = () => {
      if (document.visibilityState === 'visible') store.select(store.getSnapshot().current);
    };
    document.addEventListener('visibilitychange', seen);
    return () => document.removeEventListener('visibilitychange', seen);
  }, [store]);

  const sidebarRooms: SidebarRoom[] = useMemo(
    () =>
      Object.values(rooms)
        .filter((r) => r.followed || r.id === current)
        .map((r) => {
          const label = roomLabelOf(r);
          return { id: r.id, name: label?.name ?? r.id, private: label?.private ?? false, unread: r.unread };
        }),
    [rooms, current],
  );

  const select = useCallback(
    (id: string) => {
      store.select(id);
      setNavOpen(false);
    },
    [store],
  );

  const typingNames = (room?.typing ?? []).map((t) => t.user.name);
  const pending = useMemo(() => (room ? visiblePending(room) : []), [room]);
  const blocked = room && !room.followed ? (room.blocked ?? `You are not in ${label}.`) : undefined;

  // Escape closes whichever overlay is open on small screens.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape') return;
      if (navOpen) setNavOpen(false);
      else if (membersOpen && !wide) setMembersOpen(false);
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [navOpen, membersOpen, wide]);

  return (
    <div className={`app${navOpen ? ' nav-open' : ''}${membersOpen ? ' members-open' : ''}`}>
      <div className="nav-scrim" onClick={() => setNavOpen(false)} aria-hidden="true" />
      <Sidebar
        // Off-canvas on phones: while closed it must not take keyboard focus either.
        inert={narrow && !navOpen}
        me={me}
        rooms={sidebarRooms}
        directory={directory}
        current={current}
        onSelect={select}
        onCreate={() => {
          setOpened((n) => n + 1);
          setCreating(true);
        }}
        onRefresh={() => void store.refreshRooms()}
        onSignOut={onSignOut}
      />
      <main className="chat" aria-labelledby="room-title">
        <header className="room-header">
          <button type="button" className="icon-button nav-toggle" aria-label="Show rooms" aria-expanded={navOpen} onClick={() => setNavOpen((o) => !o)}>
            <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
              <path d="M4 6h16M4 12h16M4 18h16" stroke="currentColor" strokeWidth="2" strokeLinecap="round" />
            </svg>
          </button>
          <h1 id="room-title" className="room-title">
            {roomLabelOf(room)?.private && <LockIcon />}
            {label}
            {roomLabelOf(room)?.private && <span className="sr-only"> (private)</span>}
          </h1>
          <div className="room-actions">
            <button
              type="button"
              className="button ghost small"
              aria-expanded={membersOpen}
              aria-controls="members-panel"
              onClick={() => setMembersOpen((o) => !o)}
              title="People here now"
            >
              <PeopleIcon /> {room?.members.length ?? 0}
              <span className="sr-only"> people here now</span>
            </button>
            {room?.followed && current !== DEFAULT_ROOM && (
              <button type="button" className="button ghost small" onClick={() => void store.leave(current)}>
                Leave
              </button>
            )}
          </div>
        </header>
        <ConnectionBanner state={connection} onRetry={() => store.reconnect()} />
        {state.notice && (
          <div className="banner notice" role="alert">
            <span>{state.notice}</span>
            <button type="button" className="icon-button small" aria-label="Dismiss" onClick={() => store.dismissNotice()}>
              ×
            </button>
          </div>
        )}
        {room && (
          <MessageList
            key={current}
            roomId={current}
            roomLabel={label}
            messages={room.messages}
            pending={pending}
            meId={me.id}
            loaded={room.loaded}
            hasOlder={room.hasOlder}
            loadingOlder={room.loadingOlder}
            onLoadOlder={() => void store.loadOlder(current)}
            onRetry={(id) => store.retry(current, id)}
            onDiscard={(id) => store.discard(current, id)}
            onEdit={(id, text) => {
              drafts.set(current, text);
              store.discard(current, id);
              setComposerKey((k) => k + 1);
            }}
          />
        )}
        <div className="typing" aria-hidden={typingNames.length === 0}>
          {typingNames.length > 0 && (
            <>
              <span className="typing-dots" aria-hidden="true">
                <i />
                <i />
                <i />
              </span>
              {typingText(typingNames)}
            </>
          )}
        </div>
        <Composer
          key={`${current}:${composerKey}`}
          roomLabel={label}
          disabledReason={blocked}
          disabledAction={blocked ? { label: `Join ${label}`, onClick: () => void store.join(current) } : undefined}
          note={connection === 'online' ? undefined : 'Not connected: messages will be sent when the connection is back.'}
          error={room?.error}
          onDismissError={() => store.clearRoomError(current)}
          onSend={(text) => store.send(text)}
          onTyping={() => store.typing()}
          initialText={drafts.get(current)}
          onDraft={(text) => drafts.set(current, text)}
          autoFocus={finePointer}
        />
      </main>
      {membersOpen && (
        <div id="members-panel" className="members-wrap">
          <MembersPanel members={room?.members ?? []} meId={me.id} roomLabel={label} onClose={() => setMembersOpen(false)} />
        </div>
      )}
      {/* Keyed by how many times it was opened, so each opening starts with an empty form. */}
      <CreateRoomDialog key={opened} open={creating} onClose={() => setCreating(false)} onCreate={(input) => store.createRoom(input)} />
      <div className="sr-only" aria-live="polite" aria-atomic="true">
        {state.announcement}
      </div>
    </div>
  );
}
