// Module `k6/execution`: where an iteration runs.
const A = globalThis.__alilo;

export const vu = {
  get idInTest() { return A.vuId(); },
  get idInInstance() { return A.vuId(); },
  get iterationInScenario() { return A.iterationInVu(); },
  get iterationInInstance() { return A.iterationInVu(); },
  metrics: { tags: {}, metadata: {} },
};

export const scenario = {
  get name() { return A.scenarioName(); },
  get executor() { return A.scenarioExecutor(); },
  get iterationInTest() { return A.iterationInTest(); },
  get iterationInInstance() { return A.iterationInTest(); },
  get startTime() { return A.startTime(); },
  get progress() { return A.progress(); },
};

export const instance = {
  get vusActive() { return A.vusActive(); },
  get vusInitialized() { return A.vusInitialized(); },
  get iterationsCompleted() { return A.iterationsCompleted(); },
  get iterationsInterrupted() { return 0; },
  get currentTestRunDuration() { return A.runDuration(); },
};

export const test = {
  abort(reason) { A.abort(reason === undefined ? "test.abort() called" : String(reason)); },
  options: {},
};

export default { vu, scenario, instance, test };
