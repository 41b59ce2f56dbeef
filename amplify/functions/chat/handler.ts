import { perform } from '../../core/chat';
import { asProtocolError, CLOSING_CODES, ConnectionGone } from '../../core/errors';
import { encodeEvent } from '../../core/fanout';
import { identityFromRequestContext } from '../../core/identity';
import { errorEvent, parseAction, ProtocolError } from '../../core/protocol';
import { ContainerCache } from '../../core/cache';
import { LocalAdmission, Refused } from '../../core/ratelimit';
import { depsFor, type WebSocketEvent, type WebSocketResult } from '../runtime';

/**
 * Every custom route and $default land here: parse, validate, perform, and
 * turn any failure into a typed `error` frame. It never throws, so a bad
 * frame costs the sender an error event, not the connection.
 */
const memory = { admission: new LocalAdmission(), cache: new ContainerCache() };

export const handler = async (event: WebSocketEvent): Promise<WebSocketResult> => {
  const { requestContext } = event;
  const deps = depsFor(requestContext, memory);
  let details: ProtocolError['details'] = {};
  try {
    const action = parseAction(event.body, event.isBase64Encoded);
    details = {
      action: action.action,
      reqId: action.reqId,
      ...('clientMsgId' in action && action.clientMsgId ? { clientMsgId: action.clientMsgId } : {}),
    };
    const who = identityFromRequestContext(requestContext);
    await perform(deps, { ...who, connectionId: requestContext.connectionId }, action);
  } catch (err) {
    // The socket left while its action ran: there is nobody to answer.
    if (err instanceof ConnectionGone) return { statusCode: 200 };
    let failure = asProtocolError(err, details);
    if (err instanceof Refused && err.coalescible && deps.admission) {
      const retryAfterMs = deps.admission.reportRefusal(requestContext.connectionId, deps.now(), err.retryAfterMs);
      if (retryAfterMs === undefined) return { statusCode: 200 };
      failure = new ProtocolError(failure.code, failure.message, { ...failure.details, retryAfterMs });
    }
    if (failure.code === 'internal' || failure.code === 'unavailable') {
      console.error(JSON.stringify({ msg: 'action failed', route: requestContext.routeKey, code: failure.code, error: String(err) }));
    }
    try {
      const delivered = await deps.notifier.post(requestContext.connectionId, encodeEvent(errorEvent(failure)));
      // The client reconnects on close, with a fresh token and its rooms rejoined.
      if (delivered === 'ok' && CLOSING_CODES.has(failure.code)) await deps.notifier.close(requestContext.connectionId);
    } catch (postErr) {
      console.error(JSON.stringify({ msg: 'error frame not delivered', error: String(postErr) }));
    }
  }
  return { statusCode: 200 };
};
