import { useId, useState } from 'react';
import * as v from 'valibot';
import { NAME_RULE, isValidName, nameKey } from '../../amplify/core/names';
import { CreateRoomSchema, LIMITS, RoomIdSchema } from '../../amplify/core/protocol';
import type { CreateRoomRequest } from '../realtime/socket';
import { FormDialog } from './FormDialog';

/** What the dialog asks for: a public room by its id, or a private room by its name (the server makes its id). */
export type CreateRoomInput = CreateRoomRequest;

/** A room id suggested from its name: lowercase, dashes, within the id rules. */
export function slugify(name: string): string {
  return name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[-_]+|-+$/g, '')
    .slice(0, 32);
}

/**
 * The chat names in the invite box, split on commas and spaces, without a
 * leading @. Names that are the same person by the sign-up rule (`Bill` and
 * `bi11`, say) are kept once, as first written.
 */
export function parseInvites(raw: string): string[] {
  const byKey = new Map<string, string>();
  for (const n of raw.split(/[\s,]+/).map((s) => s.replace(/^@/, ''))) {
    if (!n) continue;
    const key = isValidName(n) ? nameKey(n) : n;
    if (!byKey.has(key)) byKey.set(key, n);
  }
  return [...byKey.values()];
}

/** Checks the form with the server's own rules (the protocol's schemas, the sign-up name rule), so both sides agree. */
export function validateRoom(input: CreateRoomInput): string | undefined {
  if (input.private) {
    if (!input.name.trim()) return 'Name: a private room needs a name.';
    const invite = input.invite ?? [];
    if (invite.length > LIMITS.maxInvites) return `You can invite at most ${LIMITS.maxInvites} people at once.`;
    const bad = invite.filter((n) => !isValidName(n));
    if (bad.length) return `Not a valid chat name: ${bad.join(', ')}. ${NAME_RULE}.`;
  } else {
    const id = v.safeParse(RoomIdSchema, input.room);
    if (!id.success) return `Room ID: ${id.issues[0].message}.`;
  }
  if (input.name !== undefined && input.name.trim().length > 64) return 'Name: at most 64 characters.';
  // The whole frame, as the server will parse it: catches anything the friendlier checks above do not word.
  const frame = v.safeParse(CreateRoomSchema, { action: 'createroom', ...input });
  if (frame.success) return undefined;
  const message = frame.issues[0].message;
  return /[.!?]$/.test(message) ? message : `${message}.`;
}

export function CreateRoomDialog({ open, onClose, onCreate }: { open: boolean; onClose: () => void; onCreate: (input: CreateRoomInput) => Promise<unknown> }) {
  const id = useId();
  const [name, setName] = useState('');
  const [room, setRoom] = useState('');
  const [roomEdited, setRoomEdited] = useState(false);
  const [isPrivate, setPrivate] = useState(false);
  const [invite, setInvite] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);


  const submit = async () => {
    const input: CreateRoomInput = isPrivate
      ? { private: true, name: name.trim(), invite: parseInvites(invite) }
      : { room: room.trim(), ...(name.trim() ? { name: name.trim() } : {}) };
    const problem = validateRoom(input);
    if (problem) return setError(problem);
    setBusy(true);
    setError(undefined);
    try {
      await onCreate(input);
      onClose();
    } catch (err) {
      const e = err as { code?: string; message?: string };
      setError(
        e.code === 'room_exists' && !input.private
          ? `A room with the ID “${input.room}” already exists. Pick another ID, or join it from the list.`
          : e.code === 'unknown_user'
            ? `${e.message ?? 'Unknown chat name'}. Invite people by the chat name they signed up with.`
            : (e.message ?? 'Could not create the room.'),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <FormDialog
      open={open}
      id={id}
      title="Create a room"
      error={error}
      busy={busy}
      submitLabel="Create room"
      busyLabel="Creating…"
      onSubmit={() => void submit()}
      onClose={onClose}
    >
      <div className="field">
        <label htmlFor={`${id}-name`}>Name</label>
        <input
          id={`${id}-name`}
          value={name}
          maxLength={64}
          required={isPrivate}
          placeholder="Weekend plans"
          autoComplete="off"
          onChange={(e) => {
            setName(e.target.value);
            if (!roomEdited) setRoom(slugify(e.target.value));
          }}
        />
      </div>
      {!isPrivate && (
        <div className="field">
          <label htmlFor={`${id}-room`}>Room ID</label>
          <input
            id={`${id}-room`}
            value={room}
            maxLength={32}
            required
            placeholder="weekend-plans"
            autoComplete="off"
            spellCheck={false}
            aria-describedby={`${id}-room-hint`}
            onChange={(e) => {
              setRoom(e.target.value);
              setRoomEdited(true);
            }}
          />
          <p id={`${id}-room-hint`} className="field-hint">
            Lowercase letters, numbers, - and _. It cannot be changed later.
          </p>
        </div>
      )}
      <label className="check">
        <input type="checkbox" checked={isPrivate} onChange={(e) => setPrivate(e.target.checked)} />
        <span>
          <strong>Private</strong>
          <span className="field-hint">Only people you invite can see and join it. Its ID is made for you and cannot be guessed.</span>
        </span>
      </label>
      {isPrivate && (
        <div className="field">
          <label htmlFor={`${id}-invite`}>Invite people</label>
          <input
            id={`${id}-invite`}
            value={invite}
            placeholder="alice, bob"
            autoComplete="off"
            spellCheck={false}
            aria-describedby={`${id}-invite-hint`}
            onChange={(e) => setInvite(e.target.value)}
          />
          <p id={`${id}-invite-hint`} className="field-hint">
            Chat names, separated by commas or spaces.
          </p>
        </div>
      )}
    </FormDialog>
  );
}
