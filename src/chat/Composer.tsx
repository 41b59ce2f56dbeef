import { useId, useLayoutEffect, useRef, useState } from 'react';
import { codePointLength, isBlank, LIMITS } from '../../amplify/core/protocol';

/** The counter appears this close to the limit, not before: most messages are short. */
export const COUNTER_FROM = LIMITS.maxTextChars - 500;

export interface ComposerProps {
  roomLabel: string;
  /** Why posting is impossible right now; disables the composer and says so. */
  disabledReason?: string;
  disabledAction?: { label: string; onClick: () => void };
  /** A note that does not block posting, e.g. "offline: messages will send later". */
  note?: string;
  /** A server refusal to show inline; the text stays in the box. */
  error?: string;
  onDismissError?: () => void;
  /** Throws when the message cannot be sent; the text then stays in the box with the reason. */
  onSend: (text: string) => void;
  onTyping?: () => void;
  initialText?: string;
  onDraft?: (text: string) => void;
  autoFocus?: boolean;
}

export function Composer({
  roomLabel,
  disabledReason,
  disabledAction,
  note,
  error,
  onDismissError,
  onSend,
  onTyping,
  initialText = '',
  onDraft,
  autoFocus,
}: ComposerProps) {
  const [text, setText] = useState(initialText);
  const [localError, setLocalError] = useState<string>();
  const ref = useRef<HTMLTextAreaElement>(null);
  const id = useId();
  const length = codePointLength(text);
  const over = length > LIMITS.maxTextChars;
  const disabled = Boolean(disabledReason);
  // Blank as the server judges it (zero-width characters count as nothing); other faults are explained on send.
  const canSend = !disabled && !over && !isBlank(text);
  const shownError = localError ?? error;

  // Grow with the text up to the CSS max-height, then scroll.
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${el.scrollHeight}px`;
  }, [text]);

  const update = (next: string) => {
    setText(next);
    onDraft?.(next);
    if (localError) setLocalError(undefined);
    if (next.trim()) onTyping?.();
  };

  const submit = () => {
    if (!canSend) return;
    try {
      onSend(text);
    } catch (err) {
      setLocalError(err instanceof Error ? err.message : String(err));
      return;
    }
    setText('');
    onDraft?.('');
    onDismissError?.();
    ref.current?.focus();
  };

  const describedBy = [`${id}-hint`, disabled && `${id}-reason`, shownError && `${id}-error`, length >= COUNTER_FROM && `${id}-count`].filter(Boolean).join(' ');

  return (
    <form
      className={`composer${disabled ? ' disabled' : ''}`}
      aria-label={`Write to ${roomLabel}`}
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      {shownError && (
        <div className="composer-error" id={`${id}-error`} role="alert">
          <span>{shownError}</span>
          <button
            type="button"
            className="icon-button small"
            aria-label="Dismiss error"
            onClick={() => {
              setLocalError(undefined);
              onDismissError?.();
            }}
          >
            ×
          </button>
        </div>
      )}
      {disabled && (
        <div className="composer-reason" id={`${id}-reason`} role="status">
          <span>{disabledReason}</span>
          {disabledAction && (
            <button type="button" className="button primary small" onClick={disabledAction.onClick}>
              {disabledAction.label}
            </button>
          )}
        </div>
      )}
      <div className="composer-box">
        <label htmlFor={`${id}-input`} className="sr-only">
          Message {roomLabel}
        </label>
        <textarea
          id={`${id}-input`}
          ref={ref}
          rows={1}
          dir="auto"
          value={text}
          disabled={disabled}
          placeholder={disabled ? '' : `Message ${roomLabel}`}
          aria-describedby={describedBy}
          aria-invalid={over || undefined}
          autoFocus={autoFocus}
          onChange={(e) => update(e.target.value)}
          onKeyDown={(e) => {
            // Enter sends; Shift+Enter is a newline; Enter that confirms an IME composition is neither.
            if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              submit();
            }
          }}
        />
        <button type="submit" className="send-button" disabled={!canSend} aria-label="Send message" title="Send (Enter)">
          <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
            <path d="M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z" fill="currentColor" />
          </svg>
        </button>
      </div>
      <div className="composer-footer">
        <span id={`${id}-hint`} className="composer-hint">
          {note ?? (
            <>
              <kbd>Enter</kbd> to send · <kbd>Shift</kbd>+<kbd>Enter</kbd> for a new line
            </>
          )}
        </span>
        {length >= COUNTER_FROM && (
          <span id={`${id}-count`} className={`composer-count${over ? ' over' : ''}`} aria-live="polite">
            {over
              ? `${(length - LIMITS.maxTextChars).toLocaleString('en')} ${length - LIMITS.maxTextChars === 1 ? 'character' : 'characters'} too long`
              : `${length.toLocaleString('en')} / ${LIMITS.maxTextChars.toLocaleString('en')}`}
          </span>
        )}
      </div>
    </form>
  );
}
