#!/usr/bin/env bash
# `bench/ab-kv.sh <base-ref> [rounds] [-- bench:kv options]`: bench:kv --engine all on the replica
# built from <base-ref> (a git worktree in tmp/ab-kv/base) and on this tree's, alternating
# (before, after, before, after, ...), `rounds` rounds each (default 3), with this tree's benchmark
# client for both; then bench/ab-kv-report.ts prints each case's median per side, the worst round
# before, whether a case after is worse than that worst round (lower throughput, higher p50 or p99),
# and the CPU per 1,000 puts of the leader and of the followers. etcd is left out (--no-etcd): it is
# the same on both sides. Results stay in tmp/ab-kv/<time>/. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
base="${1:?usage: bench/ab-kv.sh <base-ref> [rounds] [-- bench:kv options]}"
shift
rounds=3
if [ $# -gt 0 ] && [ "$1" != "--" ]; then rounds="$1"; shift; fi
if [ $# -gt 0 ] && [ "$1" = "--" ]; then shift; fi

. tools/node24.sh
export NX_NO_CLOUD=true NX_DAEMON=false NX_TUI=false
wt=tmp/ab-kv/base
out="tmp/ab-kv/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
if [ -d "$wt" ]; then git -C "$wt" checkout -q --detach "$base"; else git worktree add -q --detach "$wt" "$base"; fi
echo "before: $(git -C "$wt" log -1 --format='%h %s' | cut -c1-100)"
echo "after:  this tree ($(git log -1 --format='%h') + working changes)"
(cd "$wt" && npm ci --no-audit --no-fund --silent && npx nx run @synod/consensus:build)
npx nx run @synod/consensus:build
before_app="$PWD/$wt/apps/consensus/dist/main.js"
for i in $(seq 1 "$rounds"); do
  echo "--- round $i of $rounds: before"
  npx tsx --conditions=@synod/source bench/kv.ts --engine all --no-etcd --app "$before_app" --json "$out/before-$i.json" "$@" > "$out/before-$i.log"
  echo "--- round $i of $rounds: after"
  npx tsx --conditions=@synod/source bench/kv.ts --engine all --no-etcd --json "$out/after-$i.json" "$@" > "$out/after-$i.log"
done
npx tsx --conditions=@synod/source bench/ab-kv-report.ts "$out"
