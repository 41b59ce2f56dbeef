import type { RoomSummary, UserRef } from '../../amplify/core/protocol';
import { Avatar } from './Avatar';
import { LockIcon } from './icons';

export interface SidebarRoom {
  id: string;
  name: string;
  private: boolean;
  unread: number;
}

export interface SidebarProps {
  me: UserRef;
  /** Rooms you follow, in the order you joined them. */
  rooms: readonly SidebarRoom[];
  /** Rooms you may join: public ones and private ones you were invited to. */
  directory: readonly RoomSummary[];
  /** False until the server has sent the directory once. */
  directoryLoaded?: boolean;
  current: string;
  onSelect: (id: string) => void;
  onCreate: () => void;
  onRefresh: () => void;
  onSignOut: () => void;
  inert?: boolean;
}

function RoomIcon({ private: isPrivate }: { private: boolean }) {
  return isPrivate ? (
    <LockIcon />
  ) : (
    <span className="room-icon hash" aria-hidden="true">
      #
    </span>
  );
}

export function Sidebar({ me, rooms, directory, directoryLoaded = true, current, onSelect, onCreate, onRefresh, onSignOut, inert }: SidebarProps) {
  const followed = new Set(rooms.map((r) => r.id));
  const browse = directory.filter((r) => !followed.has(r.id));
  return (
    <nav className="sidebar" aria-label="Rooms" inert={inert}>
      <div className="brand">
        <span className="brand-mark" aria-hidden="true">
          P
        </span>
        <span className="brand-name">Parley</span>
      </div>
      <section className="room-section" aria-labelledby="rooms-heading">
        <div className="section-head">
          <h2 id="rooms-heading">Your rooms</h2>
          <button type="button" className="icon-button" onClick={onCreate} aria-label="Create a room" title="Create a room">
            +
          </button>
        </div>
        <ul className="room-list">
          {rooms.map((r) => (
            <li key={r.id}>
              <button
                type="button"
                className={`room-link${r.id === current ? ' active' : ''}${r.unread ? ' unread' : ''}`}
                aria-current={r.id === current ? 'page' : undefined}
                onClick={() => onSelect(r.id)}
              >
                <RoomIcon private={r.private} />
                <span className="room-name">{r.name}</span>
                {r.private && <span className="sr-only">(private)</span>}
                {r.unread > 0 && (
                  <span className="badge">
                    {r.unread > 99 ? '99+' : r.unread}
                    <span className="sr-only"> unread</span>
                  </span>
                )}
              </button>
            </li>
          ))}
        </ul>
      </section>
      <section className="room-section" aria-labelledby="browse-heading">
        <div className="section-head">
          <h2 id="browse-heading">More rooms</h2>
          <button type="button" className="icon-button" onClick={onRefresh} aria-label="Refresh the room list" title="Refresh">
            ↻
          </button>
        </div>
        {!directoryLoaded ? (
          <p className="muted small pad" aria-busy="true">
            Loading rooms…
          </p>
        ) : browse.length === 0 ? (
          <p className="muted small pad">You are in every room you can see.</p>
        ) : (
          <ul className="room-list">
            {browse.map((r) => (
              <li key={r.id}>
                <button type="button" className="room-link browse" onClick={() => onSelect(r.id)}>
                  <RoomIcon private={r.private} />
                  <span className="room-name">{r.name}</span>
                  {r.private && <span className="sr-only">(private)</span>}
                  <span className="join-hint">Join</span>
                </button>
              </li>
            ))}
          </ul>
        )}
      </section>
      <div className="me">
        <Avatar id={me.id} name={me.name} size={32} />
        <span className="me-name" title={me.name}>
          {me.name}
        </span>
        <button type="button" className="button ghost small" onClick={onSignOut}>
          Sign out
        </button>
      </div>
    </nav>
  );
}
