// Module `k6/http`. A request goes to Rust in one native call (method, URL,
// body, params); the response comes back with its scalar fields set and its
// body, headers and timings read from Rust only when the script asks.
const A = globalThis.__alilo;

function select(v, path) {
  // k6's json(selector): dot and [index] paths ("a.b[0].c", "a.#" for length).
  for (const part of String(path).replace(/\[(\d+)\]/g, ".$1").split(".")) {
    if (part === "") continue;
    if (v === null || v === undefined) return undefined;
    if (part === "#" && Array.isArray(v)) return v.length;
    v = v[part];
  }
  return v;
}

function meta(r, k) {
  const m = A.responseMeta(r._id);
  for (const f of ["url", "proto", "error"]) {
    Object.defineProperty(r, f, { value: m[f], writable: true, enumerable: true });
  }
  return m[k];
}

// k6's Selection, a subset: a chain of steps evaluated in Rust
// (agent/src/js/html.rs) when first read; elements are [name, text, html, attrs].
class Selection {
  constructor(id, steps) {
    this._id = id;
    this._steps = steps;
    this._els = undefined;
  }
  _all() {
    if (this._els === undefined) this._els = A.htmlSelect(this._id, this._steps);
    return this._els;
  }
  _then(step) {
    return new Selection(this._id, this._steps.concat([step]));
  }
  find(selector) {
    return this._then(["find", String(selector)]);
  }
  eq(i) {
    return this._then(["eq", Number(i)]);
  }
  first() {
    return this.eq(0);
  }
  last() {
    return this.eq(-1);
  }
  size() {
    return this._all().length;
  }
  get length() {
    return this._all().length;
  }
  text() {
    return this._all().map((e) => e[1]).join("");
  }
  html() {
    const e = this._all()[0];
    return e === undefined ? undefined : e[2];
  }
  attr(name, def) {
    const e = this._all()[0];
    const v = e === undefined ? undefined : e[3][name];
    return v === undefined ? def : v;
  }
  val() {
    return this.attr("value");
  }
  nodeName() {
    const e = this._all()[0];
    return e === undefined ? undefined : e[0];
  }
  each(fn) {
    const els = this._all();
    for (let i = 0; i < els.length; i++) {
      // Each element's selection starts evaluated (no second parse).
      const one = this.eq(i);
      one._els = [els[i]];
      fn(i, one);
    }
    return this;
  }
  map(fn) {
    const out = [];
    this.each((i, s) => out.push(fn(i, s)));
    return out;
  }
  toArray() {
    return this.map((i, s) => s);
  }
}

export class Response {
  // `v` packs (id × 2048 + error_code) × 1024 + status (natives.rs).
  constructor(v) {
    this._id = Math.floor(v / 2097152);
    this.status = v % 1024;
    this.error_code = Math.floor(v / 1024) % 2048;
  }
  get url() {
    return meta(this, "url");
  }
  get proto() {
    return meta(this, "proto");
  }
  get error() {
    return meta(this, "error");
  }
  get body() {
    const v = A.responseBody(this._id);
    Object.defineProperty(this, "body", { value: v, writable: true, enumerable: true });
    return v;
  }
  get headers() {
    const v = A.responseHeaders(this._id);
    Object.defineProperty(this, "headers", { value: v, writable: true, enumerable: true });
    return v;
  }
  get timings() {
    const v = A.responseTimings(this._id);
    Object.defineProperty(this, "timings", { value: v, writable: true, enumerable: true });
    return v;
  }
  get cookies() {
    const v = A.responseCookies(this._id);
    Object.defineProperty(this, "cookies", { value: v, writable: true, enumerable: true });
    return v;
  }
  get remote_ip() {
    return A.responseRemote(this._id).ip;
  }
  get remote_port() {
    return A.responseRemote(this._id).port;
  }
  get request() {
    const v = A.responseRequest(this._id);
    Object.defineProperty(this, "request", { value: v, writable: true, enumerable: true });
    return v;
  }
  json(selector) {
    const b = this.body;
    if (b === null || b === undefined) throw new Error("the response has no body to parse as JSON");
    const v = JSON.parse(typeof b === "string" ? b : String.fromCharCode.apply(null, new Uint8Array(b)));
    return selector === undefined ? v : select(v, selector);
  }
  html(selector) {
    const s = new Selection(this._id, []);
    return selector === undefined ? s : s.find(selector);
  }
}

export function request(method, url, body, params) {
  return new Response(A.request(String(method).toUpperCase(), url, body, params));
}
export function get(url, params) {
  return new Response(A.request("GET", url, null, params));
}
export function head(url, params) {
  return new Response(A.request("HEAD", url, null, params));
}
export function post(url, body, params) {
  return new Response(A.request("POST", url, body, params));
}
export function put(url, body, params) {
  return new Response(A.request("PUT", url, body, params));
}
export function patch(url, body, params) {
  return new Response(A.request("PATCH", url, body, params));
}
export function del(url, body, params) {
  return new Response(A.request("DELETE", url, body, params));
}
export function options(url, body, params) {
  return new Response(A.request("OPTIONS", url, body, params));
}

// batch: an array or object of [method, url, body, params] or
// {method, url, body, params}; the requests are sent together.
export function batch(reqs) {
  const keys = Object.keys(reqs);
  const norm = keys.map((k) => {
    const r = reqs[k];
    if (typeof r === "string") return ["GET", r, null, undefined];
    if (Array.isArray(r)) return [String(r[0]).toUpperCase(), r[1], r[2] === undefined ? null : r[2], r[3]];
    if (r && r.url !== undefined && r.__name === undefined)
      return [String(r.method || "GET").toUpperCase(), r.url, r.body === undefined ? null : r.body, r.params];
    return ["GET", r, null, undefined];
  });
  const out = A.batch(norm);
  const res = Array.isArray(reqs) ? [] : {};
  keys.forEach((k, i) => {
    res[k] = new Response(out[i]);
  });
  return res;
}

// http.url`https://x/${id}`: the URL, named by its template so that every
// id lands in one row of the per-name breakdown.
export function url(strings, ...values) {
  let u = "";
  let name = "";
  strings.forEach((s, i) => {
    u += s;
    name += s;
    if (i < values.length) {
      u += String(values[i]);
      name += "${}";
    }
  });
  return { __url: u, __name: name, toString() { return u; } };
}

export function expectedStatuses(...args) {
  const ranges = args.map((a) => (typeof a === "number" ? [a, a] : [a.min, a.max]));
  return { __expected: ranges };
}

export function setResponseCallback(cb) {
  A.setExpected(cb && cb.__expected ? cb.__expected : null);
}

// The VU's cookie jar (RFC 6265: domain, path, expiry, secure): filled from
// Set-Cookie, sent with later requests that match.
const jar = {
  set(url, name, value, options) {
    const o = options || {};
    A.jarSet(String(url), String(name), String(value), {
      domain: o.domain === undefined ? null : String(o.domain),
      path: o.path === undefined ? null : String(o.path),
      expires: o.expires === undefined ? null : String(o.expires),
      max_age: o.max_age === undefined ? null : Number(o.max_age),
      secure: !!o.secure,
    });
  },
  cookiesForURL(url) { return A.jarGet(String(url)); },
  clear(url) { A.jarClear(String(url)); },
  delete(url, name) { A.jarClear(String(url), String(name)); },
};

export function cookieJar() {
  return jar;
}

export const OCSP_STATUS_GOOD = "good";

export default {
  request, get, head, post, put, patch, del, options, batch, url, expectedStatuses, setResponseCallback, cookieJar,
  Response,
};
