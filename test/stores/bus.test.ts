import { expect, it } from 'vitest';
import { createMessageBus } from '../../storage/bus/index.js';
import { describeDrivers } from '../helpers/port-drivers.js';

describeDrivers('message bus contract', createMessageBus, ({ runs, store, config }) => {
  it.skipIf(!runs)('delivers published messages to every subscriber of the channel, in any process', async () => {
    const got: string[] = [];
    let deliver!: () => void;
    const both = new Promise<void>((resolve) => (deliver = resolve));
    const add = (m: string) => {
      got.push(m);
      if (got.length === 2) deliver();
    };
    await store().subscribe('chan', (m) => add(`a:${m}`)); // resolves once the subscription is live
    await store().subscribe('chan', (m) => add(`b:${m}`));
    // Another process's bus, for Redis (the in-process one only reaches its own subscribers).
    const other = config.driver === 'redis' ? createMessageBus(config) : store();
    await other.publish('other', 'not for chan');
    await other.publish('chan', 'hello');
    await both;
    expect(got.sort()).toEqual(['a:hello', 'b:hello']);
    if (other !== store()) await other.close();
  });
});
