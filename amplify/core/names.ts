/**
 * Chat names: the one rule for what a name may be and when two names are the
 * same person. Shared by the Pre sign-up trigger (which claims names), the
 * authorizer (which checks them), the domain (invites) and the sign-up form.
 *
 * The rule is a strict character set plus a fold, not a Unicode TR39
 * skeleton: names are ASCII letters, digits and the separators `.`, `_`, `-`,
 * so Cyrillic look-alikes, bidi overrides, zero-width and control characters
 * cannot occur at all. Within ASCII, the key lowercases and folds the
 * characters that read alike in common UI fonts (0/o, 1/l/i, rn/m, vv/w, and
 * the three separators): `ana` and `ANA` share a key, as do `bill`, `bi11`
 * and `BILL`, and `ana.b`, `ana_b` and `ana-b`. Folding more than TR39
 * would only refuse a few more names; folding less would let them pass.
 */

/** Starts and ends with a letter or digit; separators only in between. */
const NAME_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,30}[A-Za-z0-9])?$/;

export const NAME_RULE = 'Chat names are 1-32 characters: letters A-Z, digits, and . _ - between them';

/** Undefined when the name is acceptable, else why not (a sentence for people). */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) return NAME_RULE;
  return undefined;
}

export const isValidName = (name: unknown): name is string => nameProblem(name) === undefined;

/** The registry key: equal keys mean "the same name" for uniqueness and for invites. */
export function nameKey(name: string): string {
  return name
    .toLowerCase()
    .replace(/rn/g, 'm')
    .replace(/vv/g, 'w')
    .replace(/0/g, 'o')
    .replace(/[1i]/g, 'l')
    .replace(/[._-]/g, '.');
}

/** What the Pre sign-up trigger says when it refuses, as `PreSignUp failed with error <code>: <text>.` */
export const SIGN_UP_REFUSALS = { taken: 'name_taken', invalid: 'bad_name' } as const;
