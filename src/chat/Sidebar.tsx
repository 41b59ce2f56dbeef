import type { ReactNode } from 'react';
import type { RoomSummary, UserRef } from '../../amplify/core/protocol';
import { Avatar } from './Avatar';
import { LockIcon } from './icons';

export interface SidebarRoom {
  id: string;
  name: string;
  private: boolean;
  unread: number;
  /** A direct-message room: the other person, whose name it goes by. */
  dm?: UserRef;
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
  /** Opens the "Start a direct message" dialog. */
  onStartDm: () => void;
  onRefresh: () => void;
  onSignOut: () => void;
  inert?: boolean;
  /** Drawn above the signed-in user (the region indicator). */
  footer?: ReactNode;
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

/** The count as drawn ("99+" past 99) and as read out ("more than 99"). */
function UnreadBadge({ count }: { count: number }) {
  if (count <= 0) return null;
  const many = count > 99;
  return (
    <span className="badge">
      <span aria-hidden="true">{many ? '99+' : count}</span>
      <span className="sr-only">, {many ? 'more than 99' : count} unread</span>
    </span>
  );
}

function RoomButton({ room: r, current, onSelect }: { room: SidebarRoom; current: string; onSelect: (id: string) => void }) {
  const name = r.dm?.name ?? r.name;
  return (
    <button
      type="button"
      className={`room-link${r.dm ? ' dm' : ''}${r.id === current ? ' active' : ''}${r.unread ? ' unread' : ''}`}
      aria-current={r.id === current ? 'page' : undefined}
      onClick={() => onSelect(r.id)}
    >
      {r.dm ? <Avatar id={r.dm.id} name={r.dm.name} size={20} /> : <RoomIcon private={r.private} />}
      <span className="room-name">{name}</span>
      {r.private && !r.dm && <span className="sr-only">(private)</span>}
      <UnreadBadge count={r.unread} />
    </button>
  );
}

export function Sidebar({ me, rooms, directory, directoryLoaded = true, current, onSelect, onCreate, onStartDm, onRefresh, onSignOut, inert, footer }: SidebarProps) {
  const followed = new Set(rooms.map((r) => r.id));
  const own = rooms.filter((r) => !r.dm);
  const dms = rooms.filter((r) => r.dm);
  // A DM is reached by the person's name, never browsed: the directory lists rooms only.
  const browse = directory.filter((r) => !followed.has(r.id) && !r.dm);
  return (
    <nav className="sidebar" aria-label="Rooms" inert={inert}>
      <div className="brand">
        <span className="brand-mark" aria-hidden="true">
          P
        </span>
        <span className="brand-name">Parley</span>
      </div>
      <section className="room-section mine" aria-labelledby="rooms-heading">
        <div className="section-head">
          <h2 id="rooms-heading">Your rooms</h2>
          <button type="button" className="icon-button" onClick={onCreate} aria-label="Create a room" title="Create a room">
            +
          </button>
        </div>
        <ul className="room-list">
          {own.map((r) => (
            <li key={r.id}>
              <RoomButton room={r} current={current} onSelect={onSelect} />
            </li>
          ))}
        </ul>
      </section>
      <section className="room-section dms" aria-labelledby="dms-heading">
        <div className="section-head">
          <h2 id="dms-heading">Direct messages</h2>
          <button type="button" className="icon-button" onClick={onStartDm} aria-label="Start a direct message" title="Start a direct message">
            +
          </button>
        </div>
        {dms.length === 0 ? (
          <p className="muted small pad">No conversations yet.</p>
        ) : (
          <ul className="room-list">
            {dms.map((r) => (
              <li key={r.id}>
                <RoomButton room={r} current={current} onSelect={onSelect} />
              </li>
            ))}
          </ul>
        )}
      </section>
      <section className="room-section browse" aria-labelledby="browse-heading">
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
      {footer}
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
