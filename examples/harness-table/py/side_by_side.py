"""Reference measurements for the harness table, run by `--bin table` in the same run.

  python3 side_by_side.py gt DATA_DIR K                 numpy exact top-K time (queries @ base.T, argpartition)
  python3 side_by_side.py hnswlib DATA_DIR EFC,.. EFS,.. hnswlib (M=32, cosine) build secs, recall@10, p50 per ef
  python3 side_by_side.py build DATA_DIR EFC [THREADS]   one hnswlib build (M=32, cosine, all cores by default): its secs
  python3 side_by_side.py search DATA_DIR EFC EFS,..     hnswlib (M=32, cosine) per ef: recall@10, the per-query p50
                                                         through Python and the native mean of one batch call (1 thread)

Prints one JSON object on stdout. Needs `pip install numpy hnswlib`.
"""
import json
import os
import sys
import time

import numpy as np


def hnswlib_version():
    """hnswlib 0.8 has no __version__; ask the installed distribution."""
    try:
        from importlib.metadata import version
        return version("hnswlib")
    except Exception:
        return "unknown"


def fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    return raw.reshape(-1, dim + 1)[:, 1:].view(np.float32).copy()


def ivecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    return raw.reshape(-1, dim + 1)[:, 1:].copy()


def numpy_gt(data, k):
    base = fvecs(os.path.join(data, "base.fvecs"))
    queries = fvecs(os.path.join(data, "query.fvecs"))
    times = []
    for _ in range(3):
        started = time.perf_counter()
        scores = queries @ base.T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        times.append(time.perf_counter() - started)
    return {"numpy_secs": sorted(times)[1], "numpy_runs": times, "shape": [len(queries), len(base)], "k": k,
            "numpy": np.__version__, "checksum": int(top.shape[0])}


def hnswlib_side(data, efcs, efss, k=10):
    import hnswlib

    base = fvecs(os.path.join(data, "base.fvecs"))
    queries = fvecs(os.path.join(data, "query.fvecs"))
    truth = ivecs(os.path.join(data, "groundtruth.ivecs"))[:, :k]
    rows = []
    for efc in efcs:
        index = hnswlib.Index(space="cosine", dim=base.shape[1])
        index.init_index(max_elements=len(base), ef_construction=efc, M=32, random_seed=1)
        index.set_num_threads(os.cpu_count() or 1)
        started = time.perf_counter()
        index.add_items(base, np.arange(len(base)))
        build = time.perf_counter() - started
        index.set_num_threads(1)
        for efs in efss:
            index.set_ef(efs)
            found = np.zeros((len(queries), k), dtype=np.int64)
            for i in range(min(100, len(queries))):
                index.knn_query(queries[i : i + 1], k=k)
            runs = []
            for _ in range(3):
                times = []
                for i in range(len(queries)):
                    t = time.perf_counter()
                    labels, _ = index.knn_query(queries[i : i + 1], k=k)
                    times.append(time.perf_counter() - t)
                    found[i] = labels[0]
                runs.append(float(np.median(times)) * 1e6)
            recall = np.mean([len(set(found[i]) & set(truth[i])) / k for i in range(len(queries))])
            rows.append({"ef_construction": efc, "ef_search": efs, "build_secs": build,
                         "recall": float(recall), "p50_us": sorted(runs)[1]})
    return {"rows": rows, "hnswlib": hnswlib_version(), "threads": os.cpu_count()}


def hnswlib_build(data, efc, threads):
    import hnswlib

    base = fvecs(os.path.join(data, "base.fvecs"))
    index = hnswlib.Index(space="cosine", dim=base.shape[1])
    index.init_index(max_elements=len(base), ef_construction=efc, M=32, random_seed=1)
    index.set_num_threads(threads)
    started = time.perf_counter()
    index.add_items(base, np.arange(len(base)))
    return {"build_secs": time.perf_counter() - started, "ef_construction": efc, "threads": threads}


def hnswlib_search(data, efc, efss, k=10, passes=5):
    """Per-query p50 through Python's `knn_query` (call overhead included) and the mean of
    one single-threaded batch call over all queries (the native cost, no per-query
    overhead), median of `passes` each."""
    import hnswlib

    base = fvecs(os.path.join(data, "base.fvecs"))
    queries = fvecs(os.path.join(data, "query.fvecs"))
    truth = ivecs(os.path.join(data, "groundtruth.ivecs"))[:, :k]
    index = hnswlib.Index(space="cosine", dim=base.shape[1])
    index.init_index(max_elements=len(base), ef_construction=efc, M=32, random_seed=1)
    index.set_num_threads(os.cpu_count() or 1)
    index.add_items(base, np.arange(len(base)))
    index.set_num_threads(1)
    rows = []
    for efs in efss:
        index.set_ef(efs)
        index.knn_query(queries[:100], k=k, num_threads=1)
        p50s, means = [], []
        for _ in range(passes):
            times = []
            for i in range(len(queries)):
                t = time.perf_counter()
                index.knn_query(queries[i : i + 1], k=k)
                times.append(time.perf_counter() - t)
            p50s.append(float(np.median(times)) * 1e6)
            t = time.perf_counter()
            labels, _ = index.knn_query(queries, k=k, num_threads=1)
            means.append((time.perf_counter() - t) / len(queries) * 1e6)
        recall = np.mean([len(set(labels[i]) & set(truth[i])) / k for i in range(len(queries))])
        rows.append({"ef_construction": efc, "ef_search": efs, "recall": float(recall),
                     "p50_us": float(np.median(p50s)), "batch_mean_us": float(np.median(means))})
    return {"rows": rows, "hnswlib": hnswlib_version()}


def main():
    mode, data = sys.argv[1], sys.argv[2]
    if mode == "gt":
        out = numpy_gt(data, int(sys.argv[3]))
    elif mode == "hnswlib":
        efcs = [int(x) for x in sys.argv[3].split(",")]
        efss = [int(x) for x in sys.argv[4].split(",")]
        out = hnswlib_side(data, efcs, efss)
    elif mode == "build":
        threads = int(sys.argv[4]) if len(sys.argv) > 4 else (os.cpu_count() or 1)
        out = hnswlib_build(data, int(sys.argv[3]), threads)
    elif mode == "search":
        out = hnswlib_search(data, int(sys.argv[3]), [int(x) for x in sys.argv[4].split(",")])
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
