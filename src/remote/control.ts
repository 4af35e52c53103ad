/**
 * A worker's ear on its queue's control channel (redis/control.ts): a connection of its own,
 * since a subscribed Redis connection can do nothing else.
 */

import type { Redis } from 'ioredis';
import { type ControlMessage, readControl } from '../redis/control.js';

/** Subscribe to `channel`; resolves once subscribed, with the connection to close when leaving. */
export async function listenForControl(
  client: Redis,
  channel: string,
  onMessage: (message: ControlMessage) => void,
): Promise<Redis> {
  const subscriber = client.duplicate({
    connectionName: `${client.options.connectionName ?? 'fanout'}-control`,
  });
  subscriber.on('message', (from: string, text: string) => {
    if (from !== channel) return;
    const message = readControl(text);
    if (message) onMessage(message);
  });
  await subscriber.subscribe(channel);
  return subscriber;
}
