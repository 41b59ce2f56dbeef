import type { Context } from 'aws-lambda';
import { perform } from '../../core/chat';
import { asProtocolError, CLOSING_CODES, ConnectionGone } from '../../core/errors';
import { encodeEvent } from '../../core/fanout';
import { identityFromRequestContext } from '../../core/identity';
import { errorEvent, parseAction, ProtocolError } from '../../core/protocol';
import { ContainerCache } from '../../core/cache';
import { LocalAdmission, Refused } from '../../core/ratelimit';
import { functionLog } from '../log';
import { depsFor, type WebSocketEvent, type WebSocketResult } from '../runtime';

/**
 * Every custom route and $default land here: parse, validate, perform, and
 * turn any failure into a typed `error` frame. It never throws, so a bad
 * frame costs the sender an error event, not the connection.
 */
const memory = { admission: new LocalAdmission(), cache: new ContainerCache() };
const logs = functionLog('chat');

export const handler = async (event: WebSocketEvent, context?: Context): Promise<WebSocketResult> => {
  const { requestContext } = event;
  const log = logs.invocation(requestContext, context);
  const deps = depsFor(requestContext, log, memory);
  let details: ProtocolError['details'] = {};
  try {
    const action = parseAction(event.body, event.isBase64Encoded);
    details = {
      action: action.action,
      reqId: action.reqId,
      ...('clientMsgId' in action && action.clientMsgId ? { clientMsgId: action.clientMsgId } : {}),
    };
    log.debug('action', details);
    const who = identityFromRequestContext(requestContext);
    await perform(deps, { ...who, connectionId: requestContext.connectionId }, action);
  } catch (err) {
    // The socket left while its action ran: there is nobody to answer.
    if (err instanceof ConnectionGone) {
      log.debug('connection gone mid-action', details);
      return { statusCode: 200 };
    }
    let failure = asProtocolError(err, details);
    if (err instanceof Refused && err.coalescible && deps.admission) {
      const retryAfterMs = deps.admission.reportRefusal(requestContext.connectionId, deps.now(), err.retryAfterMs);
      if (retryAfterMs === undefined) return { statusCode: 200 };
      failure = new ProtocolError(failure.code, failure.message, { ...failure.details, retryAfterMs });
    }
    // Our failures carry the cause; a client's mistakes (typed refusals) are its answer, not an incident.
    const fields = { code: failure.code, ...details };
    if (failure.code === 'internal') log.error('action failed', fields, err);
    else if (failure.code === 'unavailable') log.warn('action failed', fields, err);
    else log.debug('action refused', { ...fields, reason: failure.message });
    try {
      const delivered = await deps.notifier.post(requestContext.connectionId, encodeEvent(errorEvent(failure)));
      // The client reconnects on close, with a fresh token and its rooms rejoined.
      if (delivered === 'ok' && CLOSING_CODES.has(failure.code)) await deps.notifier.close(requestContext.connectionId);
    } catch (postErr) {
      log.warn('error frame not delivered', { code: failure.code }, postErr);
    }
  }
  return { statusCode: 200 };
};
