// Score values as the node reads them (server/domain/scores.py value_problem): a decimal string,
// "0" or up to six digits without a leading zero, then up to four decimals; at most the
// criterion's max and a multiple of its step. Compared exactly, in ten-thousandths (no floats).

const DECIMAL = /^(0|[1-9][0-9]{0,5})(\.[0-9]{1,4})?$/;
const SCHEME_DECIMAL = /^([0-9]+)(\.[0-9]{1,4})?$/;

function units(text) {
  const match = SCHEME_DECIMAL.exec(text);
  if (match === null) {
    return null;
  }
  const fraction = (match[2] ?? ".").slice(1).padEnd(4, "0");
  return BigInt(match[1]) * 10000n + BigInt(fraction);
}

/** null if `text` is a value the criterion allows, else a catalogue key for what is wrong. */
export function scoreProblem(criterion, text) {
  if (!DECIMAL.test(text)) {
    return "expert.score.not_decimal";
  }
  const value = units(text);
  const max = units(String(criterion.max));
  const step = units(String(criterion.step));
  if (max !== null && value > max) {
    return "expert.score.above_max";
  }
  if (step !== null && step > 0n && value % step !== 0n) {
    return "expert.score.off_step";
  }
  return null;
}
