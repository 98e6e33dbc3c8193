// Module `k6/encoding`: base64 in its four variants ("std", "rawstd",
// "url", "rawurl").
const A = globalThis.__alilo;

export function b64encode(input, encoding) {
  return A.b64encode(input, encoding || "std");
}

export function b64decode(input, encoding, format) {
  return A.b64decode(String(input), encoding || "std", format === "s");
}

export default { b64encode, b64decode };
