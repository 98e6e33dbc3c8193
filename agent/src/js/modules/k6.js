// Module `k6`: check, group, sleep, fail, randomSeed. The natives live on
// the hidden `__alilo` object (agent/src/js/natives.rs).
const A = globalThis.__alilo;

export function check(val, sets, tags) {
  let all = true;
  for (const name of Object.keys(sets || {})) {
    const f = sets[name];
    const ok = !!(typeof f === "function" ? f(val) : f);
    A.check(name, ok, tags);
    if (!ok) all = false;
  }
  return all;
}

export function group(name, fn) {
  A.groupEnter(String(name));
  try {
    return fn();
  } finally {
    A.groupLeave();
  }
}

export function sleep(seconds) {
  A.sleep(Number(seconds));
}

export function fail(message) {
  throw new Error(message === undefined ? "fail" : String(message));
}

// A seeded Math.random (xorshift32), as k6's randomSeed makes it repeatable.
export function randomSeed(seed) {
  let s = (Number(seed) | 0) || 1;
  Math.random = function () {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

export default { check, group, sleep, fail, randomSeed };
