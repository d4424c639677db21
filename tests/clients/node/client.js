// ioredis against a three-node Seshat cluster, driven by tests/tests/clients.rs.
//
//     node client.js cluster HOST:PORT    ioredis Cluster, seeded with one node (any node)
//
// The line protocol is the one every client program shares (tests/tests/clients.rs
// documents it): check SET/GET/DEL/MGET and a pipeline, print `ready`, then write one key
// every few milliseconds while the test kills the leader and says `killed` on stdin; the
// first write that succeeds after `killed` is the recovery (`recovered ...`); every later
// write must succeed at once, and every write the client saw acknowledged must read back
// (`verified ...`). Exit status 0 means all of that held.
"use strict";

const readline = require("node:readline");
const Redis = require("ioredis");

// How long the client gets to recover once the test has said `killed`, and how long it
// waits for that signal.
const RECOVERY_MS = 15000;
const SIGNALS_MS = 60000;
const WRITES_AFTER_RECOVERY = 50;

function fail(message) {
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
}

function expect(what, got, want) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    fail(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function connect(mode, addr) {
  if (mode !== "cluster") fail(`unknown mode ${mode}`);
  const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
  // The retry options a user would set for failovers: ioredis retries a command after a
  // closed connection, MOVED, TRYAGAIN or CLUSTERDOWN (up to maxRedirections times, waiting
  // the retryDelayOn* delays and reloading the slots), and reconnects with
  // clusterRetryStrategy's backoff.
  return new Redis.Cluster([{ host, port }], {
    clusterRetryStrategy: (times) => Math.min(100 * times, 1000),
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 200,
    maxRedirections: 16,
    slotsRefreshTimeout: 2000,
    redisOptions: { connectTimeout: 2000, maxRetriesPerRequest: 3 },
  });
}

async function basics(client, acked) {
  expect("PING", await client.ping(), "PONG");
  expect("SET", await client.set("js:a", "1"), "OK");
  acked.set("js:a", "1");
  expect("GET", await client.get("js:a"), "1");
  expect("SET", await client.set("js:gone", "x"), "OK");
  expect("DEL", await client.del("js:gone"), 1);
  expect("GET after DEL", await client.get("js:gone"), null);
  // MGET's keys share a hash tag, as cluster clients require of multi-key commands.
  for (const [key, value] of [["{js}:m1", "v1"], ["{js}:m2", "v2"]]) {
    expect("SET", await client.set(key, value), "OK");
    acked.set(key, value);
  }
  expect("MGET", await client.mget("{js}:m1", "{js}:m2", "{js}:none"), ["v1", "v2", null]);

  // A pipeline: ioredis sends it to the one node that owns its keys' slots.
  const pipe = client.pipeline();
  for (let i = 0; i < 20; i++) pipe.set(`{js}:pipe:${i}`, String(i));
  pipe.get("{js}:pipe:0").incr("{js}:counter").del("{js}:pipe:19").get("{js}:pipe:19");
  const replies = await pipe.exec();
  const errors = replies.filter(([error]) => error);
  if (errors.length > 0) fail(`pipeline errors: ${errors.map(([error]) => error.message)}`);
  expect(
    "pipeline",
    replies.map(([, reply]) => reply),
    [...Array(20).fill("OK"), "0", 1, 1, null],
  );
  for (let i = 0; i < 19; i++) acked.set(`{js}:pipe:${i}`, String(i));
  acked.set("{js}:counter", "1");
}

async function main() {
  const [mode, addr] = process.argv.slice(2);
  const client = connect(mode, addr);
  const acked = new Map();
  await basics(client, acked);
  console.log(`ready acked=${acked.size}`);

  // The test's signal arrives on stdin while the loop below writes.
  const signals = new Map();
  readline.createInterface({ input: process.stdin }).on("line", (line) => {
    signals.set(line.trim(), Date.now());
  });

  const readyAt = Date.now();
  const errors = new Map();
  let i = 0;
  let recovered = null;
  while (recovered === null) {
    const started = Date.now();
    const killed = signals.get("killed");
    if (killed === undefined && started > readyAt + SIGNALS_MS) fail(`no signal within ${SIGNALS_MS} ms`);
    if (killed !== undefined && started > killed + RECOVERY_MS) {
      fail(`no write succeeded within ${RECOVERY_MS} ms of 'killed': ${[...errors]}`);
    }
    const [key, value] = [`js:w:${i}`, String(i)];
    i += 1;
    try {
      await client.set(key, value);
    } catch (error) {
      // The library gave up on this write: not acknowledged.
      const name = error.name || "Error";
      if (!errors.has(name)) process.stderr.write(`write failed (${name}): ${error.message}\n`);
      errors.set(name, (errors.get(name) || 0) + 1);
      await sleep(50);
      continue;
    }
    acked.set(key, value);
    if (killed !== undefined && started > killed) recovered = Date.now() - killed;
    await sleep(10);
  }
  const failed = [...errors.values()].reduce((a, b) => a + b, 0);
  const summary = [...errors].map(([name, count]) => `${name}:${count}`).sort().join(",") || "none";
  console.log(`recovered after_ms=${recovered} failed_writes=${failed} errors=${summary}`);

  // Recovered: from now on every call succeeds the first time.
  for (let j = 0; j < WRITES_AFTER_RECOVERY; j++) {
    expect(`SET js:after:${j}`, await client.set(`js:after:${j}`, String(j)), "OK");
    acked.set(`js:after:${j}`, String(j));
  }
  const pipe = client.pipeline();
  for (let j = 0; j < 10; j++) pipe.set(`{js}:after-pipe:${j}`, String(j));
  expect("pipeline after recovery", await pipe.exec(), Array(10).fill([null, "OK"]));
  for (let j = 0; j < 10; j++) acked.set(`{js}:after-pipe:${j}`, String(j));

  // Every acknowledged write is there.
  for (const [key, value] of acked) expect(`GET ${key}`, await client.get(key), value);
  expect("GET after DEL", await client.get("{js}:pipe:19"), null);
  expect("MGET", await client.mget("{js}:m1", "{js}:m2"), ["v1", "v2"]);
  console.log(`verified acked=${acked.size} writes_tried=${i}`);
  client.disconnect();
  process.exit(0);
}

main().catch((error) => fail(error.stack || String(error)));
