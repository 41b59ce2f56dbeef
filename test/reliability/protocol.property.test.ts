/** Property-based checks of the edge validation: whatever arrives, the answer is a typed verdict. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ERROR_CODES, LIMITS, messageProblem, parseAction, ProtocolError, roomNameProblem } from '../../amplify/core/protocol';

const roomId = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,31}$/);
const clientMsgId = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const text = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 200 })
  .filter((s) => messageProblem(s) === undefined);
/** Display names come back trimmed, so the generator makes them trimmed already. */
const roomName = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 40 })
  .map((s) => s.trim())
  .filter((s) => s.length > 0 && s.length <= 64 && roomNameProblem(s) === undefined);
const userName = fc.stringMatching(/^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,30}[A-Za-z0-9])?$/);

const validAction = fc.oneof(
  fc.record({ action: fc.constant('sendmessage'), message: text, room: fc.option(roomId, { nil: undefined }), clientMsgId: fc.option(clientMsgId, { nil: undefined }) }, { requiredKeys: ['action', 'message'] }),
  fc.record({ action: fc.constantFrom('joinroom', 'leaveroom', 'typing'), room: roomId }),
  fc.record({ action: fc.constant('history'), room: roomId, after: fc.nat(), limit: fc.integer({ min: 1, max: LIMITS.historyPageMax }) }),
  fc.record({ action: fc.constant('history'), room: roomId, before: fc.nat({ max: Number.MAX_SAFE_INTEGER }) }),
  // A public room is named by its creator; a private one gets its id from the server and needs a name.
  fc.record({ action: fc.constant('createroom'), room: roomId, name: roomName, private: fc.constant(false) }, { requiredKeys: ['action', 'room'] }),
  fc.record({ action: fc.constant('createroom'), private: fc.constant(true), name: roomName, invite: fc.array(userName, { maxLength: LIMITS.maxInvites }) }, { requiredKeys: ['action', 'private', 'name'] }),
  fc.record({ action: fc.constantFrom('ping', 'listrooms') }),
  fc.record({ action: fc.constant('listrooms'), cursor: fc.string({ minLength: 1, maxLength: LIMITS.maxCursorChars }) }),
);

function verdict(body: string): 'ok' | string {
  try {
    parseAction(body);
    return 'ok';
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    return err.code;
  }
}

describe('parseAction', () => {
  it('accepts every well-formed action and keeps its fields', () => {
    fc.assert(
      fc.property(validAction, (action) => {
        const parsed = parseAction(JSON.stringify(action)) as unknown as Record<string, unknown>;
        for (const [k, v] of Object.entries(action)) if (v !== undefined) expect(parsed[k]).toEqual(v);
      }),
      { numRuns: 500 },
    );
  });

  it('matches action names case-insensitively', () => {
    fc.assert(
      fc.property(fc.constantFrom('ping', 'listrooms'), fc.array(fc.boolean(), { minLength: 9, maxLength: 9 }), (name, upper) => {
        const mixed = [...name].map((ch, i) => (upper[i] ? ch.toUpperCase() : ch)).join('');
        expect(verdict(JSON.stringify({ action: mixed }))).toBe('ok');
      }),
    );
  });

  it('answers any string with ok or a known error code, never an exception', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.json(), fc.jsonValue().map((v) => JSON.stringify(v))), (body) => {
        const v = verdict(body);
        expect(v === 'ok' || (ERROR_CODES as readonly string[]).includes(v)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('never lets a mutated valid action crash it, and never lets a wrong type through', () => {
    const junk = fc.oneof(fc.constant(null), fc.integer(), fc.double(), fc.boolean(), fc.string(), fc.array(fc.anything()), fc.object());
    fc.assert(
      fc.property(validAction, fc.string({ minLength: 1, maxLength: 12 }), junk, (action, key, value) => {
        const mutated = { ...action, [key]: value };
        const v = verdict(JSON.stringify(mutated));
        expect(v === 'ok' || (ERROR_CODES as readonly string[]).includes(v)).toBe(true);
        if (v === 'ok' && key === 'message') expect(typeof value).toBe('string');
        if (v === 'ok' && key === 'room') expect(typeof value).toBe('string');
      }),
      { numRuns: 1000 },
    );
  });

  it('never returns prototype-polluting keys as fields', () => {
    fc.assert(
      fc.property(validAction, (action) => {
        const body = JSON.stringify(action).replace(/^\{/, '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},');
        try {
          const parsed = parseAction(body) as unknown as Record<string, unknown>;
          expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
          expect(parsed.polluted).toBeUndefined();
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
        }
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
    );
  });
});
