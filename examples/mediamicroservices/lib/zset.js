// A Redis sorted set on an ordered key-value store (see the example's README):
//
//   z/<set>/<score, 13 digits>/<member>  ->  member    (the scan order: score, then member string)
//   m/<set>/<member>                     ->  score     (member -> score, for NX and ZREM)
//
// Members are BigInt ids written in decimal; <set> must not contain "/". Equal
// scores order by the member's decimal string, as Redis orders equal scores
// (lexicographically by member), so ZREVRANGE ties come out exactly as in Redis.

import { pad13 } from "./ids.js";

const entryKey = (set, score, member) => `z/${set}/${pad13(score)}/${member}`;
const indexKey = (set, member) => `m/${set}/${member}`;

/** The batch operations of `ZADD set NX score member` (atomic: nothing if present). */
export function zaddNxOps(set, member, score) {
  return [
    { op: "putIfAbsent", key: indexKey(set, member), value: score },
    { op: "put", key: entryKey(set, score, member), value: member },
  ];
}

/** ZADD NX of one member; true if it was added. */
export async function zaddNx(store, set, member, score) {
  const r = await store.batch(zaddNxOps(set, member, score));
  return r.ok;
}

/**
 * ZADD NX of many (set, member, score) triples, as one Redis pipeline would:
 * one atomic batch when no member is present yet (the usual case: a new post),
 * otherwise one batch per member, skipping those present.
 */
export async function zaddNxMany(store, triples) {
  if (triples.length === 0) return;
  const ops = [];
  for (const [set, member, score] of triples) ops.push(...zaddNxOps(set, member, score));
  const r = await store.batch(ops);
  if (r.ok) return;
  await Promise.all(triples.map(([set, member, score]) => store.batch(zaddNxOps(set, member, score))));
}

/**
 * ZADD (without NX) of `pairs` [[member, score], ...] into one set: adds
 * missing members and moves members whose score changed; one batch.
 */
export async function zadd(store, set, pairs) {
  if (pairs.length === 0) return;
  const scores = await Promise.all(pairs.map(([member]) => store.get(indexKey(set, member))));
  const ops = [];
  pairs.forEach(([member, score], i) => {
    const old = scores[i];
    if (old === score) return;
    if (old !== undefined) ops.push({ op: "delete", key: entryKey(set, old, member) });
    ops.push({ op: "put", key: indexKey(set, member), value: score });
    ops.push({ op: "put", key: entryKey(set, score, member), value: member });
  });
  if (ops.length > 0) await store.batch(ops);
}

/** ZREM of one member. */
export async function zrem(store, set, member) {
  const score = await store.get(indexKey(set, member));
  if (score === undefined) return;
  await store.batch([
    { op: "delete", key: indexKey(set, member) },
    { op: "delete", key: entryKey(set, score, member) },
  ]);
}

/** ZRANGE set 0 -1: every member, ascending score. */
export async function zrangeAll(store, set) {
  const entries = await store.list({ prefix: `z/${set}/` });
  return entries.map((e) => e.value);
}

/** ZRANGE set 0 -1 WITHSCORES: [[member, score], ...], ascending score. */
export async function zrangeAllWithScores(store, set) {
  const entries = await store.list({ prefix: `z/${set}/` });
  const at = set.length + 3; // "z/" + set + "/"
  return entries.map((e) => [e.value, Number(e.key.slice(at, at + 13))]);
}

/** ZREVRANGE set start stop-1: members ranked [start, stop) from the highest score. */
export async function zrevrange(store, set, start, stop) {
  if (stop <= start || start < 0) return [];
  const entries = await store.list({ prefix: `z/${set}/`, reverse: true, limit: stop });
  const out = [];
  for (let i = start; i < entries.length; i++) out.push(entries[i].value);
  return out;
}
