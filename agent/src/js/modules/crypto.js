// Module `k6/crypto`: md5, sha1, sha256, sha384, sha512, hmac, randomBytes,
// createHash and createHMAC. Output encodings "hex" (default), "base64",
// "base64url", "base64rawurl", "binary" (an ArrayBuffer).
const A = globalThis.__alilo;

function hasher(alg) {
  return (input, enc) => A.hash(alg, input, enc || "hex");
}

export const md5 = hasher("md5");
export const sha1 = hasher("sha1");
export const sha256 = hasher("sha256");
export const sha384 = hasher("sha384");
export const sha512 = hasher("sha512");

export function hmac(alg, secret, data, enc) {
  return A.hmac(String(alg), secret, data, enc || "hex");
}

export function randomBytes(n) {
  return A.randomBytes(Number(n));
}

function concat(parts) {
  if (parts.every((p) => typeof p === "string")) return parts.join("");
  return A.concat(parts);
}

export function createHash(alg) {
  const parts = [];
  return {
    update(d) { parts.push(d); return this; },
    digest(enc) { return A.hash(String(alg), concat(parts), enc || "hex"); },
  };
}

export function createHMAC(alg, secret) {
  const parts = [];
  return {
    update(d) { parts.push(d); return this; },
    digest(enc) { return A.hmac(String(alg), secret, concat(parts), enc || "hex"); },
  };
}

export default { md5, sha1, sha256, sha384, sha512, hmac, randomBytes, createHash, createHMAC };
