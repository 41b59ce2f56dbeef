import { perform } from '../../core/chat';
import { asProtocolError } from '../../core/errors';
import { reply } from '../../core/fanout';
import { identityFromRequestContext } from '../../core/identity';
import { errorEvent, parseAction, ProtocolError } from '../../core/protocol';
import { depsFor, type WebSocketEvent, type WebSocketResult } from '../runtime';

/**
 * Every custom route and $default land here: parse, validate, perform, and
 * turn any failure into a typed `error` frame. It never throws, so a bad
 * frame costs the sender an error event, not the connection.
 */
export const handler = async (event: WebSocketEvent): Promise<WebSocketResult> => {
  const { requestContext } = event;
  const deps = depsFor(requestContext);
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
    const failure = asProtocolError(err, details);
    if (failure.code === 'rate_limited' && deps.admission && !deps.admission.shouldReport(requestContext.connectionId, deps.now())) {
      return { statusCode: 200 };
    }
    if (failure.code === 'internal' || failure.code === 'unavailable') {
      console.error(JSON.stringify({ msg: 'action failed', route: requestContext.routeKey, code: failure.code, error: String(err) }));
    }
    try {
      await reply(deps, requestContext.connectionId, errorEvent(failure));
    } catch (postErr) {
      console.error(JSON.stringify({ msg: 'error frame not delivered', error: String(postErr) }));
    }
  }
  return { statusCode: 200 };
};
