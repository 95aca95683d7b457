import t from 'tap';
import { gcDelta, parseGcTotals } from '../../bench/lib/gc-metrics.js';

const exposition = (minor: number, major: number, sMinor: number, sMajor: number) => `# HELP nodejs_gc_duration_seconds Garbage collection duration by kind.
# TYPE nodejs_gc_duration_seconds histogram
nodejs_gc_duration_seconds_bucket{le="0.001",kind="minor"} ${minor}
nodejs_gc_duration_seconds_bucket{le="+Inf",kind="minor"} ${minor}
nodejs_gc_duration_seconds_sum{kind="minor"} ${sMinor}
nodejs_gc_duration_seconds_count{kind="minor"} ${minor}
nodejs_gc_duration_seconds_bucket{le="+Inf",kind="major"} ${major}
nodejs_gc_duration_seconds_sum{kind="major"} ${sMajor}
nodejs_gc_duration_seconds_count{kind="major"} ${major}
rsp_sessions_open{group="g",listener="master"} 3
`;

t.test("the proxy's GC totals are read from its /metrics text", async (t) => {
  const a = parseGcTotals(exposition(10, 2, 0.01, 0.004));
  t.same(a, { count: { minor: 10, major: 2 }, seconds: 0.014 });
  const b = parseGcTotals(exposition(25, 5, 0.03, 0.01));
  const d = gcDelta(a, b)!;
  t.equal(d.major, 3);
  t.ok(Math.abs(d.seconds - 0.026) < 1e-9, 'pause seconds of every kind');
  t.equal(parseGcTotals('rsp_sessions_open 1\n'), undefined, 'no GC series: nothing to report');
  t.equal(gcDelta(a, undefined), undefined);
});
