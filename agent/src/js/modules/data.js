// Module `k6/data`: SharedArray, built once per job (by the first VU that
// asks) and read by every VU; elements are kept as JSON in Rust and parsed
// when read.
const A = globalThis.__alilo;

export class SharedArray {
  constructor(name, fn) {
    if (typeof fn !== "function") throw new Error("SharedArray needs a function returning an array");
    const len = A.sharedArray(String(name), fn);
    const get = (i) => JSON.parse(A.sharedGet(String(name), i));
    const target = [];
    return new Proxy(target, {
      get(t, p) {
        if (p === "length") return len;
        if (typeof p === "string" && /^\d+$/.test(p)) {
          const i = Number(p);
          return i < len ? get(i) : undefined;
        }
        if (p === Symbol.iterator) {
          return function* () { for (let i = 0; i < len; i++) yield get(i); };
        }
        if (typeof Array.prototype[p] === "function") {
          return (...args) => Array.from({ length: len }, (_, i) => get(i))[p](...args);
        }
        return undefined;
      },
      has(t, p) { return p === "length" || (/^\d+$/.test(String(p)) && Number(p) < len); },
      set() { throw new Error("a SharedArray is read-only"); },
    });
  }
}

export default { SharedArray };
