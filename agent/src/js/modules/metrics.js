// Module `k6/metrics`: custom Counter, Gauge, Rate and Trend, aggregated
// per second by the agent (counters summed, gauges last, rates true/total,
// trends as HDR histograms).
const A = globalThis.__alilo;

class Metric {
  constructor(kind, name, isTime) {
    if (typeof name !== "string" || name === "") throw new Error("a metric needs a name");
    this.name = name;
    this.type = kind;
    this.isTime = !!isTime;
  }
  add(value, tags) {
    A.metric(this.type, this.name, Number(value), tags);
    return true;
  }
}

export class Counter extends Metric {
  constructor(name, isTime) { super("counter", name, isTime); }
}
export class Gauge extends Metric {
  constructor(name, isTime) { super("gauge", name, isTime); }
}
export class Rate extends Metric {
  constructor(name, isTime) { super("rate", name, isTime); }
  add(value, tags) {
    A.metric("rate", this.name, value ? 1 : 0, tags);
    return true;
  }
}
export class Trend extends Metric {
  constructor(name, isTime) { super("trend", name, isTime); }
}

export default { Counter, Gauge, Rate, Trend };
