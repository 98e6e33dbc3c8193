// Module `k6/timers`: the same timers as the globals (agent/src/js/natives.rs
// defines them). A callback runs inside the iteration that set it; the
// iteration ends when no timer is left.
export const setTimeout = globalThis.setTimeout;
export const clearTimeout = globalThis.clearTimeout;
export const setInterval = globalThis.setInterval;
export const clearInterval = globalThis.clearInterval;

export default { setTimeout, clearTimeout, setInterval, clearInterval };
