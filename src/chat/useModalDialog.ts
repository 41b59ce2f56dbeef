import { useEffect, type RefObject } from 'react';

/**
 * Shows a <dialog> as a modal while `open`: the browser then traps focus in
 * it, focuses its first control, closes it on Escape (its `cancel` event) and
 * hands focus back to what opened it when it closes.
 */
export function useModalDialog(ref: RefObject<HTMLDialogElement | null>, open: boolean): void {
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      // jsdom and very old browsers lack showModal; an open dialog still works there.
      if (typeof dialog.showModal === 'function') dialog.showModal();
      else dialog.setAttribute('open', '');
    } else if (!open && dialog.open) {
      if (typeof dialog.close === 'function') dialog.close();
      else dialog.removeAttribute('open');
    }
  }, [ref, open]);
}
