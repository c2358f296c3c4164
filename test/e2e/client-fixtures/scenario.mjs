// One client scenario, run unchanged under Deno (importing src/client/index.ts) and Node 20
// (importing the built dist/kahuna-client/index.js). Plain JavaScript, no `await using`, so Node 20
// can parse it; it prints one line per step, and the test compares the lines.
// Arguments: the server URL, a URL where nothing listens, a prefix for resource names.

export async function scenario(kahuna, [url, deadUrl, prefix], print) {
  const { KahunaClient, Durability, KahunaError } = kahuna;
  const client = new KahunaClient({ servers: [deadUrl, url] });
  const name = (suffix) => `${prefix}-${suffix}`;

  const lock = await client.getOrCreateLock(name("main"), { expiresMs: 10000 });
  print(
    `acquired ${lock.isAcquired} token ${lock.fencingToken} owner ${
      /^[0-9a-f]{32}$/.test(lock.owner)
    }`,
  );
  const info = await lock.getInfo();
  print(
    `info owner ${info.owner === lock.owner} token ${info.fencingToken} ` +
      `remaining ${info.expiresMs > 0 && info.expiresMs <= 10000}`,
  );
  const contender = await client.getOrCreateLock(name("main"), { expiresMs: 1000 });
  print(`contender acquired ${contender.isAcquired}`);
  print(`extend ${await lock.tryExtend(20000)}`);
  await lock[Symbol.asyncDispose]();
  print(`disposed ${lock.isAcquired} get ${JSON.stringify(await client.get(name("main")))}`);

  const short = await client.getOrCreateLock(name("wait"), { expiresMs: 300, owner: "short" });
  const started = Date.now();
  const waiter = await client.getOrCreateLock(name("wait"), {
    expiresMs: 5000,
    waitMs: 5000,
  });
  print(
    `waited ${waiter.isAcquired} token ${waiter.fencingToken} after-expiry ${
      Date.now() - started >= 200
    }`,
  );
  print(`extend after expiry ${await short.tryExtend(1000)}`);
  print(`release ${await waiter.release()}`);

  print(`tryLock ${JSON.stringify(await client.tryLock(name("low"), "a", 5000))}`);
  print(`tryLock other ${JSON.stringify(await client.tryLock(name("low"), "b", 5000))}`);
  print(`extend ${JSON.stringify(await client.extend(name("low"), "a", 5000))}`);
  const got = await client.get(name("low"));
  print(`get ${got.owner} ${got.fencingToken}`);
  print(`unlock other ${await client.unlock(name("low"), "b")}`);
  print(`unlock ${await client.unlock(name("low"), "a")}`);
  print(`unlock again ${await client.unlock(name("low"), "a")}`);
  const ephemeral = await client.tryLock(name("low"), "e", 5000, Durability.Ephemeral);
  print(
    `ephemeral ${ephemeral.locked} ${(await client.get(name("low"), Durability.Ephemeral)).owner}`,
  );
  await client.unlock(name("low"), "e", Durability.Ephemeral);

  // withLock: the work outlives the lease (kept alive), its value comes back, the lock is freed.
  const value = await client.withLock(name("with"), { expiresMs: 300 }, async (held, signal) => {
    await new Promise((resolve) => setTimeout(resolve, 700));
    return `token ${held.fencingToken} lost ${signal.aborted}`;
  });
  print(`withLock ${value} after ${JSON.stringify(await client.get(name("with")))}`);

  try {
    await client.tryLock("", "a", 5000);
    print("invalid input accepted");
  } catch (error) {
    print(`invalid ${error instanceof KahunaError} ${error.kind} ${error.message}`);
  }
}
