import t from 'tap';
import { HEAP_GROWING_PERCENT, planHeapTuning } from '../../src/heap-tuning.js';

t.test('the heap growing factor is set unless the operator gave one', async (t) => {
  t.same(planHeapTuning([], undefined), { applied: true, flag: `--heap-growing-percent=${HEAP_GROWING_PERCENT}` });
  t.same(planHeapTuning(['--enable-source-maps'], '--max-old-space-size=512'), { applied: true, flag: `--heap-growing-percent=${HEAP_GROWING_PERCENT}` });
  for (const [argv, env] of [
    [['--heap-growing-percent=50'], undefined],
    [['--heap-growing-percent', '50'], undefined],
    [['--heap_growing_percent=50'], undefined],
    [[], '--max-old-space-size=512 --heap-growing-percent=50'],
  ] as const) {
    const plan = planHeapTuning(argv, env);
    t.equal(plan.applied, false, `kept for ${JSON.stringify({ argv, env })}`);
  }
  // a flag that merely starts the same way is not the operator's choice of this one
  t.equal(planHeapTuning(['--heap-growing-percentage-is-not-a-flag'], undefined).applied, true);
});
