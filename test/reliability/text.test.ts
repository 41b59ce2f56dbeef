/** The text rule (core/text.ts) as the protocol applies it: invisible is empty, controls and bidi overrides are refused. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LIMITS, parseAction, ProtocolError } from '../../amplify/core/protocol';
import { isBlank, messageProblem, roomNameProblem } from '../../amplify/core/text';

function verdict(frame: Record<string, unknown>): { code: string; message: string } | 'ok' {
  try {
    parseAction(JSON.stringify(frame));
    return 'ok';
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    return { code: err.code, message: err.message };
  }
}
const send = (message: string) => verdict({ action: 'sendmessage', message });
const createPublic = (name: string) => verdict({ action: 'createroom', room: 'r1', name });
const createPrivate = (name: string) => verdict({ action: 'createroom', private: true, name });

const INVISIBLE = [
  '\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF', '\u3164', '\u115F', '\u1160', '\uFFA0', '\u180E', '\u2800', '\u034F',
  '\uFE0F', '\uFE00', '\u{E0100}', '\u{E0020}', '\u00AD', '\u2061', '\u2064', '\u17B4', '\u17B5', '\u200E', '\u200F', '\u061C',
  '\u{1D159}', '\u{1D173}', ' ', '\u00A0', '\u3000', '\u2028', '\n', '\t',
];
const CONTROLS = [
  ...Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).filter((c) => c !== '\n' && c !== '\t'),
  '\u007F',
  ...Array.from({ length: 32 }, (_, i) => String.fromCharCode(0x80 + i)),
];
const BIDI = ['\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069'];

const EMPTY = { code: 'bad_request', message: 'message: message must not be empty' };

describe('blank messages', () => {
  it.each(INVISIBLE.map((c) => [c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0'), c]))(
    'refuses U+%s alone, repeated and mixed with spaces, as empty',
    (_hex, c) => {
      expect(send(c)).toEqual(EMPTY);
      expect(send(c.repeat(50))).toEqual(EMPTY);
      expect(send(` ${c} \n${c}\t`)).toEqual(EMPTY);
    },
  );

  it('refuses any mix of invisible characters as empty, up to and past the length limit', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...INVISIBLE), { minLength: 1, maxLength: LIMITS.maxTextChars + 10 }), (parts) => {
        expect(send(parts.join(''))).toEqual(EMPTY);
      }),
      { numRuns: 200 },
    );
  });

  it('accepts invisible characters inside visible text', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...INVISIBLE.filter((c) => c !== '\n')), { maxLength: 20 }), fc.constantFrom('a', 'ب', 'ש', '😀', '字'), (parts, visible) => {
        expect(send(parts.join('') + visible + parts.join(''))).toBe('ok');
      }),
    );
  });
});

describe('control and bidi characters', () => {
  it.each(CONTROLS.map((c) => [c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0'), c]))('refuses U+%s in a message and in a room name', (_hex, c) => {
    const inMessage = send(`before ${c} after`);
    expect(inMessage).toMatchObject({ code: 'bad_request' });
    expect(inMessage !== 'ok' && inMessage.message).toMatch(/control characters/);
    expect(createPublic(`na${c}me`)).toMatchObject({ code: 'bad_request' });
    expect(createPrivate(`na${c}me`)).toMatchObject({ code: 'bad_request' });
  });

  it.each(BIDI.map((c) => [c.charCodeAt(0).toString(16).toUpperCase(), c]))('refuses U+%s in a message and in a room name', (_hex, c) => {
    const inMessage = send(`invoice ${c}fdp.exe`);
    expect(inMessage).toMatchObject({ code: 'bad_request' });
    expect(inMessage !== 'ok' && inMessage.message).toMatch(/bidirectional/);
    expect(createPublic(`gpj${c}.exe`)).toMatchObject({ code: 'bad_request' });
    expect(createPrivate(`gpj${c}.exe`)).toMatchObject({ code: 'bad_request' });
  });

  it('refuses a control or bidi character anywhere in otherwise fine text', () => {
    const fine = fc.string({ unit: 'grapheme', maxLength: 100 }).filter((s) => messageProblem(s) === undefined || isBlank(s));
    fc.assert(
      fc.property(fine, fine, fc.constantFrom(...CONTROLS, ...BIDI), (a, b, bad) => {
        expect(send(`${a}x${bad}${b}`)).toMatchObject({ code: 'bad_request' });
      }),
      { numRuns: 300 },
    );
  });

  it('allows newlines and tabs in messages but not in room names', () => {
    expect(send('line one\nline two\n\tindented')).toBe('ok');
    expect(createPublic('two\nlines')).toMatchObject({ code: 'bad_request' });
    expect(createPrivate('a\tb')).toMatchObject({ code: 'bad_request' });
  });

  it('refuses a room name that is blank once invisible characters are gone', () => {
    for (const name of ['\u200B', ' \u3164 ', '\u2800\u2800', '\uFEFF', '\u115F\u1160']) {
      expect(createPublic(name)).toMatchObject({ code: 'bad_request' });
      expect(createPrivate(name)).toMatchObject({ code: 'bad_request' });
    }
  });
});

describe('ordinary text', () => {
  const ORDINARY = [
    'hello, everyone!',
    'family 👨‍👩‍👧 and 👨‍👩‍👧‍👦, a kiss 👩‍❤️‍💋‍👨, skin tones 👋🏽',
    'flags 🇳🇱🇯🇵 and England 🏴󠁧󠁢󠁥󠁮󠁧󠁿',
    'a heart ❤️ and a text-style heart ❤︎',
    'مرحبا بالعالم',
    'שלום עולם',
    'mixed: שלום and hello and مرحبا, with a mark \u200F!',
    'Hangul 한국어, Devanagari नमस्ते, Thai สวัสดี, Tamil வணக்கம்',
    'combining e\u0301 and Zalgo z\u0351\u0352a\u0353',
    'line one\nline two\n\n\ttabbed',
    'zero\u200Bwidth space inside a word',
    '😀'.repeat(LIMITS.maxTextChars),
    'x'.repeat(LIMITS.maxTextChars),
  ];
  it.each(ORDINARY.map((t) => [t.slice(0, 40), t]))('accepts %s', (_label, text) => {
    expect(send(text)).toBe('ok');
  });

  it('accepts ordinary room names', () => {
    for (const name of ['Book club', 'نادي الكتاب', 'מועדון ספר', '👨‍👩‍👧 family', 'Café ☕']) {
      expect(createPublic(name)).toBe('ok');
      expect(createPrivate(name)).toBe('ok');
      expect(roomNameProblem(name)).toBeUndefined();
    }
  });

  it('keeps text_too_long for text over the limit', () => {
    expect(send('😀'.repeat(LIMITS.maxTextChars + 1))).toMatchObject({ code: 'text_too_long' });
    expect(send('x'.repeat(LIMITS.maxTextChars + 1))).toMatchObject({ code: 'text_too_long' });
    expect(send(`${'x'.repeat(LIMITS.maxTextChars)}\u200B`)).toMatchObject({ code: 'text_too_long' });
  });
});
