#!/usr/bin/env python3
"""Replays Optuna's TPE sampler on a recorded hnswtune landscape, with the same target
and cost rule as `cargo run --release -p hnswtune-bench-propose --bin efficiency`.

    python3 -m venv venv && venv/bin/pip install -r benches/propose/optuna/requirements.txt
    venv/bin/python benches/propose/optuna/tpe_replay.py [--seeds 20] [--budget 30] \
        [--min-recall 0.90,0.95,0.99] LANDSCAPE.jsonl...

The rules, as in `hnswtune_propose::efficiency` and `Landscape::replay`:

- A landscape line is one recorded trial; its params minus `ef_search` name its build,
  and its `seed` names the build repeat. The first time a replay uses a build it picks
  one repeat (by the replay seed) and charges that repeat's `build_secs`; every trial
  charges its line's `search_secs`, and reads that repeat's measurement.
- The target is any config whose mean recall over the repeats meets the floor and whose
  mean p50 is within 5% of the best such p50. A run records the builds, trials and
  simulated seconds spent when a target config is first measured, and goes on past the
  budget until then (at most MAX_TRIALS trials).
- TPE sees each parameter as an integer index into its recorded values (ordered, so it
  can model neighbourhoods), minimises the measured p50 and treats `recall < floor` as a
  constraint violation (`Trial.set_constraint`, Optuna 5's API), which is how an Optuna user states a recall
  floor. It may propose a config twice; the replay then charges the search again, as a
  real study would.
"""
import argparse
import collections
import json
import random
import statistics
import sys

import optuna

MAX_TRIALS = 300
WITHIN = 0.05


def load(path):
    configs = collections.defaultdict(list)  # params tuple -> [(repeat, metrics)]
    builds = collections.defaultdict(dict)  # build key -> {repeat: build_secs}
    for line in open(path):
        t = json.loads(line)
        if t.get("state") != "complete":
            continue
        params = tuple(sorted(t["params"].items()))
        key = tuple(kv for kv in params if kv[0] != "ef_search")
        m = t["metrics"]
        configs[params].append((t["seed"], m))
        builds[key].setdefault(t["seed"], m["build_secs"])
    return configs, builds


def truth(configs, params):
    ms = [m for _, m in configs[params]]
    return (sum(m["recall"] for m in ms) / len(ms), sum(m["search_p50_us"] for m in ms) / len(ms))


def exhaustive_secs(configs, builds):
    b = sum(sum(r.values()) / len(r) for r in builds.values())
    s = sum(sum(m["search_secs"] for _, m in l) / len(l) for l in configs.values())
    return b + s


def run(configs, builds, values, min_recall, optimum, seed, budget):
    rng = random.Random(seed)
    chosen = {}  # build key -> repeat
    spent = {"secs": 0.0, "trials": 0}
    reached = None

    def evaluate(params):
        key = tuple(kv for kv in params if kv[0] != "ef_search")
        if key not in chosen:
            chosen[key] = rng.choice(sorted(builds[key]))
            spent["secs"] += builds[key][chosen[key]]
        lines = configs[params]
        m = next((m for r, m in lines if r == chosen[key]), lines[0][1])
        spent["secs"] += m["search_secs"]
        spent["trials"] += 1
        return m

    def objective(trial):
        params = tuple(
            sorted((name, vals[trial.suggest_int(name, 0, len(vals) - 1)]) for name, vals in values.items())
        )
        if params not in configs:  # a gap in the recording: the trial fails, as in the replay
            trial.set_constraint("recall", 1.0)
            spent["trials"] += 1
            return float("inf")
        m = evaluate(params)
        trial.set_constraint("recall", min_recall - m["recall"])
        trial.set_user_attr("params", params)
        return m["search_p50_us"]

    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    while spent["trials"] < MAX_TRIALS:
        study.optimize(objective, n_trials=1)
        last = study.trials[-1].user_attrs.get("params")
        if reached is None and last is not None:
            rec, p50 = truth(configs, last)
            if rec >= min_recall and p50 <= optimum * (1 + WITHIN):
                reached = (len(chosen), spent["trials"], spent["secs"])
        if reached is not None and spent["trials"] >= budget:
            break
    return reached


def spread(xs):
    if not xs:
        return "–"
    q = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else [xs[0]] * 3
    return f"{statistics.median(xs):.1f} [{q[0]:.1f}–{q[2]:.1f}]"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--budget", type=int, default=30)
    ap.add_argument("--min-recall", default="0.90,0.95,0.99")
    ap.add_argument("landscapes", nargs="+")
    a = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for path in a.landscapes:
        configs, builds = load(path)
        values = collections.defaultdict(set)
        for params in configs:
            for k, v in params:
                values[k].add(v)
        values = {k: sorted(v) for k, v in sorted(values.items())}
        grid = exhaustive_secs(configs, builds)
        print(f"landscape {path}: {len(configs)} configs, {len(builds)} builds, exhaustive grid "
              f"{grid:.1f} simulated s; optuna {optuna.__version__} TPE, {a.seeds} seeds, budget {a.budget}")
        print()
        print("| min_recall | strategy | optimum p50 µs | reached ≤ budget | builds to target | trials to target | sim. s to target | % of grid s |")
        print("|---|---|---|---|---|---|---|---|")
        for floor in [float(x) for x in a.min_recall.split(",")]:
            feasible = [truth(configs, p)[1] for p in configs if truth(configs, p)[0] >= floor]
            if not feasible:
                print(f"| {floor:.2f} | optuna-tpe | none feasible | | | | | |")
                continue
            optimum = min(feasible)
            out = [run(configs, builds, values, floor, optimum, s, a.budget) for s in range(a.seeds)]
            hit = [o for o in out if o is not None]
            within = sum(1 for o in hit if o[1] <= a.budget)
            print(f"| {floor:.2f} | optuna-tpe | {optimum:.1f} | {within}/{a.seeds} | "
                  f"{spread([o[0] for o in hit])} | {spread([o[1] for o in hit])} | "
                  f"{spread([o[2] for o in hit])} | {spread([100 * o[2] / grid for o in hit])} |")
            sys.stdout.flush()
        print()


if __name__ == "__main__":
    main()
