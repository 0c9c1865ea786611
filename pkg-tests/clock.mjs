// A manual clock for tests: time moves only when a test says so.
export function manualClock(start = 1_700_000_000_000) {
  let now = start;
  const clock = () => now;
  clock.advance = (ms) => {
    now += ms;
    return now;
  };
  clock.set = (ms) => {
    now = ms;
  };
  return clock;
}
