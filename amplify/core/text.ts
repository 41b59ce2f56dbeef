/**
 * What people may write: the one rule for message text and room display names,
 * shared by the protocol's validation and the app (composer, socket). Pure and
 * dependency-free so a browser bundle can import it.
 *
 * - **Blank** text is refused. Blank means nothing visible is left once
 *   whitespace (Unicode White_Space: spaces, NBSP, U+3000, line separators…)
 *   and invisible characters are removed. Invisible is Unicode's
 *   Default_Ignorable_Code_Point (zero-width space/joiners U+200B-200D, word
 *   joiner U+2060, the invisible operators U+2061-2064, BOM U+FEFF, soft
 *   hyphen U+00AD, combining grapheme joiner U+034F, Hangul fillers U+115F,
 *   U+1160, U+3164, U+FFA0, Khmer U+17B4/17B5, Mongolian U+180B-180F,
 *   variation selectors U+FE00-FE0F and U+E0100-E01EF, tags U+E0000-E0FFF,
 *   bidi marks…) plus the characters that are not default-ignorable but are
 *   drawn as nothing: U+2800 braille pattern blank and U+1D159 musical null
 *   notehead. These characters stay allowed *inside* visible text (a ZWJ
 *   joins 👨‍👩‍👧, a variation selector picks ❤️, tags spell 🏴 subdivision flags).
 * - **Control characters** are refused: C0 (U+0000-001F), DEL (U+007F) and C1
 *   (U+0080-009F), except newline and tab in messages. A display name is one
 *   line, so it allows neither.
 * - **Bidi embeddings, overrides and isolates** (U+202A-202E, U+2066-2069) are
 *   refused: they reorder how the text around them is drawn (Trojan Source,
 *   CVE-2021-42574) and a chat has no use for them. The bidi *marks* LRM, RLM
 *   and ALM (U+200E, U+200F, U+061C) are allowed: they reorder nothing, and
 *   right-to-left writers use them to place punctuation.
 */

/** Whitespace and invisible characters: what is left after removing these is what a reader sees. */
const INVISIBLE = /[\p{White_Space}\p{Default_Ignorable_Code_Point}\u2800\u{1D159}]/gu;
/** C0, DEL and C1, except tab (U+0009) and newline (U+000A). */
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's whole job
const CONTROL_IN_TEXT = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/u;
/** C0, DEL and C1, tab and newline included. */
// eslint-disable-next-line no-control-regex -- as above
const CONTROL_IN_LINE = /[\u0000-\u001F\u007F-\u009F]/u;
/** Embeddings, overrides (LRE RLE PDF LRO RLO) and isolates (LRI RLI FSI PDI). */
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/u;

/** Length as every limit counts it: code points, so 👍 is one character, not two UTF-16 units. */
export function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** True when nothing visible remains once whitespace and invisible characters are removed. */
export function isBlank(s: string): boolean {
  return s.replace(INVISIBLE, '') === '';
}

export const hasControl = (s: string, opts: { multiline: boolean }): boolean => (opts.multiline ? CONTROL_IN_TEXT : CONTROL_IN_LINE).test(s);
export const hasBidiControl = (s: string): boolean => BIDI_CONTROL.test(s);

export type TextFault = 'empty' | 'malformed' | 'control' | 'bidi';

/** Sentences for people, per field; `message must not be empty` is the wording clients already know. */
export const textFaultMessage = (field: string, fault: TextFault, multiline: boolean): string =>
  ({
    empty: `${field} must not be empty`,
    malformed: `${field} must be valid Unicode`,
    control: multiline
      ? `${field} must not contain control characters (newline and tab are fine)`
      : `${field} must not contain control characters, newlines or tabs`,
    bidi: `${field} must not contain bidirectional embedding, override or isolate characters (U+202A-202E, U+2066-2069)`,
  })[fault];

/**
 * The first fault of `s` as text people write, or undefined when it is fine.
 * `multiline` is true for messages (newline and tab allowed), false for names.
 * Length is the caller's business: limits differ per field.
 */
export function textFault(s: string, opts: { multiline: boolean }): TextFault | undefined {
  if (!s.isWellFormed()) return 'malformed';
  if (isBlank(s)) return 'empty';
  if (hasControl(s, opts)) return 'control';
  if (hasBidiControl(s)) return 'bidi';
  return undefined;
}

/** A message's fault as a sentence, or undefined: what the composer can show before sending. */
export const messageProblem = (s: string): string | undefined => {
  const fault = textFault(s, { multiline: true });
  return fault && textFaultMessage('message', fault, true);
};

/** A room display name's fault as a sentence, or undefined. */
export const roomNameProblem = (s: string): string | undefined => {
  const fault = textFault(s, { multiline: false });
  return fault && textFaultMessage('name', fault, false);
};
