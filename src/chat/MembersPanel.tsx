import type { UserRef } from '../../amplify/core/protocol';
import { Avatar } from './Avatar';

export function MembersPanel({ members, meId, roomLabel, onClose }: { members: readonly UserRef[]; meId: string; roomLabel: string; onClose: () => void }) {
  const sorted = [...members].sort((a, b) => (a.id === meId ? -1 : b.id === meId ? 1 : a.name.localeCompare(b.name)));
  return (
    <aside className="members" aria-labelledby="members-heading">
      <div className="section-head">
        <h2 id="members-heading">
          Here now <span className="muted">· {members.length}</span>
        </h2>
        <button type="button" className="icon-button" onClick={onClose} aria-label="Close the people list">
          ×
        </button>
      </div>
      <p className="sr-only">People in {roomLabel}</p>
      <ul className="member-list">
        {sorted.map((m) => (
          <li key={m.id}>
            <span className="presence-dot-wrap">
              <Avatar id={m.id} name={m.name} size={28} />
              <span className="presence-dot" aria-hidden="true" />
            </span>
            <span className="member-name">{m.name}</span>
            {m.id === meId && <span className="you-tag">you</span>}
          </li>
        ))}
      </ul>
    </aside>
  );
}
