import type { Context } from 'aws-lambda';
import { asProtocolError } from '../../core/errors';
import { runHere, type HomeRequest, type HomeResponse } from '../../core/home';
import { functionLog } from '../log';
import { regionalDeps } from '../runtime';

const logs = functionLog('home');

/**
 * Another region's chat function asks this one, the room's home, to do what
 * only the home may (core/home.ts). It never throws: refusals travel back as
 * typed errors, so the caller can tell "no" from "unreachable".
 */
export const handler = async (event: HomeRequest, context?: Context): Promise<HomeResponse> => {
  const log = logs.invocation(undefined, context);
  try {
    return { ok: true, value: (await runHere(regionalDeps(log), event)) ?? null };
  } catch (err) {
    const failure = asProtocolError(err);
    if (failure.code === 'internal') log.error('home request failed', { op: event?.op }, err);
    return { ok: false, error: { code: failure.code, message: failure.message, details: failure.details } };
  }
};
