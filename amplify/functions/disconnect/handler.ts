import { disconnect } from '../../core/chat';
import { depsFor, type WebSocketEvent, type WebSocketResult } from '../runtime';

/** $disconnect is best effort in API Gateway too; TTL sweeps whatever a failure leaves. */
export const handler = async (event: WebSocketEvent): Promise<WebSocketResult> => {
  const { requestContext } = event;
  try {
    await disconnect(depsFor(requestContext), requestContext.connectionId);
  } catch (err) {
    console.error(JSON.stringify({ msg: 'disconnect failed', connectionId: requestContext.connectionId, error: String(err) }));
  }
  return { statusCode: 200 };
};
