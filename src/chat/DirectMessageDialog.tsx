import { useId, useState } from 'react';
import { NAME_RULE, isValidName, nameKey } from '../../amplify/core/names';
import { FormDialog } from './FormDialog';

/** The name as people type it: spaces around it and a leading @ are not part of it. */
export const cleanDmName = (raw: string): string => raw.trim().replace(/^@/, '');

/** Checks the name with the sign-up rule before asking the server; undefined when it may be sent. */
export function validateDmName(name: string, selfName?: string): string | undefined {
  if (!name) return 'Enter the chat name of the person you want to write to.';
  if (!isValidName(name)) return `${NAME_RULE}.`;
  if (selfName !== undefined && nameKey(name) === nameKey(selfName)) return 'That is you. Enter someone else’s chat name.';
  return undefined;
}

export interface DirectMessageDialogProps {
  open: boolean;
  /** Your own chat name, so writing to yourself is caught here rather than by the server. */
  selfName?: string;
  onClose: () => void;
  /** Opens (or creates) the conversation; rejects with the server's error (`code`, `message`). */
  onOpen: (name: string) => Promise<unknown>;
}

export function DirectMessageDialog({ open, selfName, onClose, onOpen }: DirectMessageDialogProps) {
  const id = useId();
  const [name, setName] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);


  const submit = async () => {
    const who = cleanDmName(name);
    const problem = validateDmName(who, selfName);
    if (problem) return setError(problem);
    setBusy(true);
    setError(undefined);
    try {
      await onOpen(who);
      onClose();
    } catch (err) {
      const e = err as { code?: string; message?: string };
      setError(e.code === 'unknown_user' ? `Nobody here is called “${who}”.` : (e.message ?? 'Could not open the conversation.'));
    } finally {
      setBusy(false);
    }
  };

  return (
    <FormDialog
      open={open}
      id={id}
      title="Start a direct message"
      error={error}
      busy={busy}
      submitLabel="Open conversation"
      busyLabel="Opening…"
      onSubmit={() => void submit()}
      onClose={onClose}
    >
      <div className="field">
        <label htmlFor={`${id}-name`}>Their chat name</label>
        <input
          id={`${id}-name`}
          value={name}
          maxLength={33}
          aria-required="true"
          placeholder="alice"
          autoComplete="off"
          autoCapitalize="none"
          spellCheck={false}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? `${id}-hint ${id}-error` : `${id}-hint`}
          onChange={(e) => {
            setName(e.target.value);
            if (error) setError(undefined);
          }}
        />
        <p id={`${id}-hint`} className="field-hint">
          The chat name they signed up with. Only the two of you can read the conversation.
        </p>
      </div>
    </FormDialog>
  );
}
