import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, useSyncExternalStore, type ReactNode } from 'react';
import { DEFAULT_ROOM } from '../../amplify/core/protocol';
import type { RegionEndpoint } from '../../amplify/regions/list';
import type { SessionUser } from '../auth/session';
import { watchBrowser } from '../realtime/browser';
import { RegionRouter, trialOpen, type RegionRouterOptions } from '../realtime/regions';
import { ChatSocket, type ChatSocketOptions } from '../realtime/socket';
import { Composer } from './Composer';
import { ConnectionBanner } from './ConnectionBanner';
import { Avatar } from './Avatar';
import { CreateRoomDialog } from './CreateRoomDialog';
import { DirectMessageDialog } from './DirectMessageDialog';
import { displayTitle, dmPeer } from './dm';
import { typingText } from './format';
import { MembersPanel } from './MembersPanel';
import { MessageList } from './MessageList';
import { RegionStatus } from './RegionStatus';
import { useMediaQuery } from './useMediaQuery';
import { LockIcon, PeopleIcon } from './icons';
import { Sidebar, type SidebarRoom } from './Sidebar';
import { ChatStore, roomLabelOf, visiblePending, type ChatState, type RoomView } from './store';
import { sameItems, shallowEqual, useChatState } from './useChatState';

export interface ChatScreenProps {
  user: SessionUser;
  /** The primary's endpoint: used alone when `regions` is not given (outputs from before issue 10). */
  websocketUrl: string;
  /** Every region's endpoint, primary first (AppConfig.regions). */
  regions?: readonly RegionEndpoint[];
  /** A current ID token, or undefined when the session is gone; `forceRefresh` when the server said it expired. */
  getToken: (opts: { forceRefresh: boolean }) => Promise<string | undefined>;
  onSignOut: () => void;
  /** Transport tuning; tests pass a Node WebSocket here. */
  socketOptions?: Partial<Omit<ChatSocketOptions, 'getUrl'>>;
  /** Region routing tuning; tests pass a probe and storage here. */
  routerOptions?: Partial<Omit<RegionRouterOptions, 'regions'>>;
}

/** How long a health check of a region to move back to may take to open. */
const CHECK_TIMEOUT_MS = 5_000;


export default function ChatScreen({ user, websocketUrl, regions, getToken, onSignOut, socketOptions, routerOptions }: ChatScreenProps) {
  const [chat, setChat] = useState<{ store: ChatStore; router: RegionRouter }>();
  const tokenRef = useRef(getToken);
  const signOutRef = useRef(onSignOut);
  // The socket calls the latest of these, whichever render they came from.
  useLayoutEffect(() => {
    tokenRef.current = getToken;
    signOutRef.current = onSignOut;
  });
  // Read once, at the first render: changing them later does not rebuild the socket.
  const [initialSocketOptions] = useState(socketOptions);
  const [initialRouterOptions] = useState(routerOptions);
  // By value, so a new array with the same endpoints does not rebuild the socket.
  const regionsKey = JSON.stringify(regions ?? [{ region: '', websocketUrl }]);

  useEffect(() => {
    const endpoints = JSON.parse(regionsKey) as RegionEndpoint[];
    const withToken = async (endpoint: RegionEndpoint, refresh: boolean) => {
      const token = await tokenRef.current({ forceRefresh: refresh });
      if (!token) {
        signOutRef.current();
        throw new Error('Signed out');
      }
      const url = new URL(endpoint.websocketUrl);
      url.searchParams.set('token', token);
      return url.toString();
    };
    const router = new RegionRouter({
      regions: endpoints,
      // Moving back needs proof the region serves, which only a signed-in open gives.
      check: async (endpoint) => trialOpen(await withToken(endpoint, false), CHECK_TIMEOUT_MS, initialSocketOptions?.createSocket),
      ...initialRouterOptions,
    });
    const socket = new ChatSocket({
      ...initialSocketOptions,
      // Each attempt asks the router afresh: after a failover, the next attempt simply goes elsewhere.
      getUrl: async ({ refresh }) => withToken(await router.resolve(), refresh),
    });
    const detach = router.attach(socket.connection);
    router.start();
    const s = new ChatStore(socket, { id: user.id, name: user.name });
    s.start();
    const unwatch = watchBrowser(socket.connection);
    setChat({ store: s, router });
    return () => {
      unwatch();
      s.dispose();
      detach();
      router.stop();
    };
  }, [user.id, user.name, regionsKey, initialSocketOptions, initialRouterOptions]);

  if (!chat) return <div className="splash" aria-busy="true" />;
  return <ChatLayout store={chat.store} router={chat.router} onSignOut={onSignOut} />;
}

const selectCurrent = (s: ChatState) => s.current;
const selectRoom = (s: ChatState): RoomView | undefined => s.rooms[s.current];
const selectConnection = (s: ChatState) => s.connection;
const selectNotice = (s: ChatState) => s.notice;
const selectAnnouncement = (s: ChatState) => s.announcement;
const selectMe = (s: ChatState) => s.me;
const selectDirectory = (s: ChatState) => s.directory;
const selectDirectoryLoaded = (s: ChatState) => s.directoryLoaded;
const selectSidebarRooms = (s: ChatState): SidebarRoom[] =>
  Object.values(s.rooms)
    .filter((r) => r.followed || r.id === s.current)
    .map((r) => {
      const label = roomLabelOf(r);
      const dm = dmPeer(r, s.me.id);
      return { id: r.id, name: label?.name ?? r.id, private: label?.private ?? false, unread: r.unread, ...(dm ? { dm } : {}) };
    });
const sameSidebarRooms = sameItems<SidebarRoom>(shallowEqual);

/**
 * The screen's frame. It owns only layout state (which panels are open);
 * every part that shows chat state subscribes to its own slice, so an event
 * re-renders the parts it changes and nothing else.
 */
export function ChatLayout({ store, router, onSignOut }: { store: ChatStore; router?: RegionRouter; onSignOut: () => void }) {
  const narrow = useMediaQuery('(max-width: 760px)');
  const wide = useMediaQuery('(min-width: 1100px)');
  const finePointer = useMediaQuery('(pointer: fine)');
  const [navOpen, setNavOpen] = useState(false);
  const [membersOpen, setMembersOpen] = useState(wide);
  const [creating, setCreating] = useState(false);
  const [opened, setOpened] = useState(0);
  const [dming, setDming] = useState(false);
  const [dmOpened, setDmOpened] = useState(0);
  const mainRef = useRef<HTMLElement>(null);
  const [created, setCreated] = useState(0);

  // After creating a room or opening a DM you want to talk in it: the composer, not the "+" the dialog hands focus back to.
  useEffect(() => {
    if (!created) return;
    const frame = requestAnimationFrame(() => mainRef.current?.querySelector<HTMLTextAreaElement>('.composer textarea')?.focus());
    return () => cancelAnimationFrame(frame);
  }, [created]);

  // Reading the current room in a visible tab clears its unread count.
  useEffect(() => {
    const seen = () => {
      if (document.visibilityState === 'visible') store.select(store.getSnapshot().current);
    };
    document.addEventListener('visibilitychange', seen);
    return () => document.removeEventListener('visibilitychange', seen);
  }, [store]);

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

  const select = useCallback(
    (id: string) => {
      store.select(id);
      setNavOpen(false);
    },
    [store],
  );
  const create = useCallback(() => {
    setOpened((n) => n + 1);
    setCreating(true);
  }, []);
  const startDm = useCallback(() => {
    setDmOpened((n) => n + 1);
    setDming(true);
  }, []);
  const toggleNav = useCallback(() => setNavOpen((o) => !o), []);
  const toggleMembers = useCallback(() => setMembersOpen((o) => !o), []);
  const closeMembers = useCallback(() => setMembersOpen(false), []);

  return (
    <div className={`app${navOpen ? ' nav-open' : ''}${membersOpen ? ' members-open' : ''}`}>
      <div className="nav-scrim" onClick={() => setNavOpen(false)} aria-hidden="true" />
      {/* Off-canvas on phones: while closed it must not take keyboard focus either. */}
      <SidebarPane
        store={store}
        footer={router?.multiRegion ? <RegionPane router={router} /> : undefined}
        inert={narrow && !navOpen}
        onSelect={select}
        onCreate={create}
        onStartDm={startDm}
        onSignOut={onSignOut}
      />
      <main ref={mainRef} className="chat" aria-labelledby="room-title">
        <RoomHeader store={store} navOpen={navOpen} membersOpen={membersOpen} onToggleNav={toggleNav} onToggleMembers={toggleMembers} />
        <ConnectionPane store={store} />
        <NoticePane store={store} />
        <RoomBody store={store} autoFocus={finePointer} />
      </main>
      {membersOpen && <MembersPane store={store} onClose={closeMembers} />}
      {/* Keyed by how many times it was opened, so each opening starts with an empty form. */}
      <CreateRoomDialog
        key={opened}
        open={creating}
        onClose={() => setCreating(false)}
        onCreate={async (input) => {
          await store.createRoom(input);
          setCreated((n) => n + 1);
        }}
      />
      <DirectMessageDialog
        key={`dm:${dmOpened}`}
        open={dming}
        selfName={store.getSnapshot().me.name}
        onClose={() => setDming(false)}
        onOpen={async (name) => {
          await store.openDm(name);
          setNavOpen(false);
          setCreated((n) => n + 1);
        }}
      />
      <Announcer store={store} />
    </div>
  );
}

interface SidebarPaneProps {
  store: ChatStore;
  inert: boolean;
  onSelect: (id: string) => void;
  onCreate: () => void;
  onStartDm: () => void;
  onSignOut: () => void;
  footer?: ReactNode;
}

function SidebarPane({ store, inert, onSelect, onCreate, onStartDm, onSignOut, footer }: SidebarPaneProps) {
  const me = useChatState(store, selectMe);
  const rooms = useChatState(store, selectSidebarRooms, sameSidebarRooms);
  const directory = useChatState(store, selectDirectory);
  const directoryLoaded = useChatState(store, selectDirectoryLoaded);
  const current = useChatState(store, selectCurrent);
  const refresh = useCallback(() => void store.refreshRooms(), [store]);
  return (
    <Sidebar
      inert={inert}
      me={me}
      rooms={rooms}
      directory={directory}
      directoryLoaded={directoryLoaded}
      current={current}
      onSelect={onSelect}
      onCreate={onCreate}
      onStartDm={onStartDm}
      onRefresh={refresh}
      onSignOut={onSignOut}
      footer={footer}
    />
  );
}

/** The region in use and the choice of it, live from the router. */
function RegionPane({ router }: { router: RegionRouter }) {
  const status = useSyncExternalStore(router.subscribe, router.getStatus);
  const change = useCallback((region: string | undefined) => router.setPreference(region), [router]);
  return (
    <RegionStatus
      regions={status.regions}
      current={status.current}
      connected={status.connected}
      preference={status.preference}
      nearest={status.nearest}
      failedOver={status.failedOver}
      preferred={status.preferred}
      onChange={change}
    />
  );
}

interface RoomHeaderProps {
  store: ChatStore;
  navOpen: boolean;
  membersOpen: boolean;
  onToggleNav: () => void;
  onToggleMembers: () => void;
}

function RoomHeader({ store, navOpen, membersOpen, onToggleNav, onToggleMembers }: RoomHeaderProps) {
  const current = useChatState(store, selectCurrent);
  const room = useChatState(store, selectRoom);
  const me = useChatState(store, selectMe);
  const peer = dmPeer(room, me.id);
  // A DM is private by nature: it is drawn with the person, not a lock.
  const isPrivate = !peer && roomLabelOf(room)?.private;
  return (
    <header className="room-header">
      <button type="button" className="icon-button nav-toggle" aria-label="Show rooms" aria-expanded={navOpen} onClick={onToggleNav}>
        <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
          <path d="M4 6h16M4 12h16M4 18h16" stroke="currentColor" strokeWidth="2" strokeLinecap="round" />
        </svg>
      </button>
      {/* Beside the heading, not in it: the heading's text stays the name alone. */}
      {peer && <Avatar id={peer.id} name={peer.name} size={26} />}
      <h1 id="room-title" className="room-title">
        {isPrivate && <LockIcon />}
        {displayTitle(room, current, me.id)}
        {isPrivate && <span className="sr-only"> (private)</span>}
      </h1>
      <div className="room-actions">
        <button type="button" className="button ghost small" aria-expanded={membersOpen} aria-controls="members-panel" onClick={onToggleMembers} title="People here now">
          <PeopleIcon /> {room?.members.length ?? 0}
          <span className="sr-only">{room?.members.length === 1 ? ' person here now' : ' people here now'}</span>
        </button>
        {room?.followed && current !== DEFAULT_ROOM && (
          <button type="button" className="button ghost small" onClick={() => void store.leave(current)}>
            Leave
          </button>
        )}
      </div>
    </header>
  );
}

function ConnectionPane({ store }: { store: ChatStore }) {
  const connection = useChatState(store, selectConnection);
  const retry = useCallback(() => store.reconnect(), [store]);
  return <ConnectionBanner state={connection} onRetry={retry} />;
}

function NoticePane({ store }: { store: ChatStore }) {
  const notice = useChatState(store, selectNotice);
  if (!notice) return null;
  return (
    <div className="banner notice" role="alert">
      <span>{notice}</span>
      <button type="button" className="icon-button small" aria-label="Dismiss" onClick={() => store.dismissNotice()}>
        ×
      </button>
    </div>
  );
}

/** The open room: its messages, who is typing, and the composer. */
function RoomBody({ store, autoFocus }: { store: ChatStore; autoFocus: boolean }) {
  const current = useChatState(store, selectCurrent);
  const room = useChatState(store, selectRoom);
  const connection = useChatState(store, selectConnection);
  const me = useChatState(store, selectMe);
  const label = displayTitle(room, current, me.id);
  const peer = dmPeer(room, me.id);
  // One Map for the component's life; writing a draft into it must not re-render.
  const [drafts] = useState(() => new Map<string, string>());
  const [composerKey, setComposerKey] = useState(0);

  // Stable per room, so the message list's memoized rows can skip re-rendering.
  const loadOlder = useCallback(() => void store.loadOlder(current), [store, current]);
  const retry = useCallback((id: string) => store.retry(current, id), [store, current]);
  const discard = useCallback((id: string) => store.discard(current, id), [store, current]);
  const edit = useCallback(
    (id: string, text: string) => {
      drafts.set(current, text);
      store.discard(current, id);
      setComposerKey((k) => k + 1);
    },
    [store, current, drafts],
  );
  const editMessage = useCallback((seq: number, text: string) => store.editMessage(current, seq, text), [store, current]);
  const deleteMessage = useCallback((seq: number) => store.deleteMessage(current, seq), [store, current]);

  const typingNames = (room?.typing ?? []).map((t) => t.user.name);
  const pending = useMemo(() => (room ? visiblePending(room) : []), [room]);
  const blocked = room && !room.followed ? (room.blocked ?? `You are not in ${label}.`) : undefined;

  return (
    <>
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
          onLoadOlder={loadOlder}
          onRetry={retry}
          onDiscard={discard}
          onEdit={edit}
          onEditMessage={editMessage}
          onDeleteMessage={deleteMessage}
          dividerAt={room.dividerAt}
          dmWith={peer?.name}
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
        autoFocus={autoFocus}
      />
    </>
  );
}

function MembersPane({ store, onClose }: { store: ChatStore; onClose: () => void }) {
  const current = useChatState(store, selectCurrent);
  const room = useChatState(store, selectRoom);
  const me = useChatState(store, selectMe);
  return (
    <div id="members-panel" className="members-wrap">
      <MembersPanel members={room?.members ?? []} meId={me.id} roomLabel={displayTitle(room, current, me.id)} onClose={onClose} />
    </div>
  );
}

function Announcer({ store }: { store: ChatStore }) {
  const announcement = useChatState(store, selectAnnouncement);
  return (
    <div className="sr-only" aria-live="polite" aria-atomic="true">
      {announcement}
    </div>
  );
}
