import t from 'tap';
import { HEAP_GROWING_PERCENT, planHeapTuning } from '../../src/heap-tuning.js';

t.test('the heap growing factor is set unless the operator gave one', async (t) => {
  const ours = { applied: true, flag: `--heap-growing-percent=${HEAP_GROWING_PERCENT}` };
  t.same(planHeapTuning([]), ours);
  t.same(planHeapTuning(['--enable-source-maps', '--max-old-space-size=512']), ours);
  for (const argv of [['--heap-growing-percent=50'], ['--heap-growing-percent', '50'], ['--heap_growing_percent=50']]) {
    t.equal(planHeapTuning(argv).applied, false, `kept for ${argv.join(' ')}`);
  }
  // a flag that merely starts the same way is not the operator's choice of this one
  t.same(planHeapTuning(['--heap-growing-percentage-is-not-a-flag']), ours);
});
