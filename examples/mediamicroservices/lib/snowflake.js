// The unique-id scheme of A.5.6: 0 | 11-bit machine id | 40-bit ms since
// 2018-01-01 | 12-bit counter.
//
// Upstream derives the machine id from a hash of eth0's MAC address (one per
// container). Here every instance of a service that generates ids claims a
// distinct machine id in the `unique-id` store (a random id, taken with
// putIfAbsent), so two instances never share one. Two upstream behaviours are
// deliberately not kept (see README, A.9 quirk 6): the counter does not wrap
// (after 4096 ids in one ms the generator moves on to the next ms) and a clock
// that goes backwards does not kill the process (the generator keeps using the
// last ms until the clock catches up). Ids stay unique and increasing.

export const CUSTOM_EPOCH = 1514764800000; // 2018-01-01T00:00:00Z
const MACHINE_IDS = 2048;
const TRIES = 32;

/** Claims a machine id not held by another live instance; resolves to it. */
export async function claimMachineId(store, owner) {
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < TRIES; i++) {
      const id = crypto.getRandomValues(new Uint16Array(1))[0] % MACHINE_IDS;
      if (await store.putIfAbsent(`machine/${id}`, { owner, at: Date.now() })) return id;
    }
    // The id space is crowded with claims of instances that are long gone
    // (claims outlive restarts): forget them all and claim again.
    const stale = await store.list({ prefix: "machine/" });
    await store.batch(stale.map((e) => ({ op: "delete", key: e.key })));
  }
  throw new Error("unique-id: could not claim a machine id");
}

export class Snowflake {
  constructor(machineId) {
    this.machine = BigInt(machineId & 0x7ff) << 52n;
    this.lastMs = -1;
    this.counter = 0;
  }

  /** The next id, a BigInt below 2^63. */
  next() {
    let ms = Date.now() - CUSTOM_EPOCH;
    if (ms > this.lastMs) {
      this.lastMs = ms;
      this.counter = 0;
    } else if (++this.counter > 0xfff) {
      this.lastMs += 1; // borrow the next ms rather than wrapping the counter
      this.counter = 0;
    }
    ms = this.lastMs;
    return this.machine | (BigInt(ms % 0x10000000000) << 12n) | BigInt(this.counter);
  }
}

/**
 * A lazily initialised generator for a service module: the first call claims
 * a machine id, later calls are synchronous after that.
 */
export function generator(store, owner) {
  let gen = null;
  let pending = null;
  return async function nextId() {
    if (gen === null) {
      pending ??= claimMachineId(store, owner).then(
        (id) => (gen = new Snowflake(id)),
        (e) => {
          pending = null;
          throw e;
        },
      );
      await pending;
    }
    return gen.next();
  };
}
