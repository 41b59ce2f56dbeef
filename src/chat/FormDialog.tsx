import { useRef, type ReactNode } from 'react';
import { useModalDialog } from './useModalDialog';

export interface FormDialogProps {
  open: boolean;
  /** The caller's useId(): the title is `${id}-title` and the error `${id}-error`, for fields to refer to. */
  id: string;
  title: string;
  error?: string;
  busy: boolean;
  submitLabel: string;
  busyLabel: string;
  onSubmit: () => void;
  onClose: () => void;
  /** The fields. */
  children: ReactNode;
}

/** A modal form: title, fields, an error in words, Cancel and a submit button that shows it is busy. */
export function FormDialog({ open, id, title, error, busy, submitLabel, busyLabel, onSubmit, onClose, children }: FormDialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  useModalDialog(ref, open);
  return (
    <dialog ref={ref} className="dialog" aria-labelledby={`${id}-title`} onClose={onClose} onCancel={onClose}>
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          onSubmit();
        }}
      >
        <h2 id={`${id}-title`}>{title}</h2>
        {children}
        {error && (
          <p id={`${id}-error`} className="form-error" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" className="button ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={busy}>
            {busy ? busyLabel : submitLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
