"""Search latency of the knowledge index at 100,000 chunks: the approximate index against exact search.

Builds 100,000 synthetic chunks (words drawn mostly from one of 2,000 topics'
vocabularies and otherwise from a Zipf-distributed common vocabulary), embeds them with the default
hashing embedder (1,024 hashed + 128 static dimensions) and adds them in ingestion-sized batches to
a :class:`~switchboard.llm.index.VectorIndex`, which turns approximate (IVF)
past ``APPROX_ABOVE``. The same vectors in an exact ``IndexFlatIP`` are the
baseline, measured in the same run. Each of 1,000 single queries is timed
alone (a visitor asks one question at a time), and the approximate index's
recall@5 against the exact answer says what the speed costs.

    python load/bench_index.py [--chunks 100000] [--queries 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from switchboard.llm.embedders import HashingEmbedder  # noqa: E402
from switchboard.llm.index import APPROX_ABOVE, NPROBE, VectorIndex  # noqa: E402

P99_TARGET_MS = 10.0


def synthetic_texts(n: int, rng: np.random.Generator) -> list[str]:
    """Chunks with topics, as documentation has: each draws most words from one of 2,000 topics' own
    50-word vocabularies and the rest from a shared Zipf-distributed vocabulary of 5,000 words."""
    vocab = [f"w{i}" + "".join(chr(97 + (i * 7 + k) % 26) for k in range(i % 5 + 2)) for i in range(5000)]
    weights = 1.0 / np.arange(1, len(vocab) + 1)
    weights /= weights.sum()
    topics = [[f"t{t}x{j}" for j in range(50)] for t in range(2000)]
    out = []
    for length, topic in zip(rng.integers(20, 60, size=n), rng.integers(0, len(topics), size=n), strict=True):
        own = rng.random(length) < 0.6
        common = rng.choice(len(vocab), size=length, p=weights)
        picks = rng.integers(0, 50, size=length)
        out.append(" ".join(topics[topic][p] if o else vocab[c] for o, c, p in zip(own, common, picks, strict=True)))
    return out


def timed(search: object, queries: np.ndarray, k: int) -> tuple[list[float], np.ndarray]:
    latencies, ids = [], []
    for q in queries:
        t0 = time.perf_counter()
        _, found = search(q[None, :], k)  # type: ignore[operator]
        latencies.append((time.perf_counter() - t0) * 1000)
        ids.append(found[0])
    return latencies, np.array(ids)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)  # one question at a time per worker thread, as the bot searches
    rng = np.random.default_rng(42)
    embedder = HashingEmbedder()
    started = time.perf_counter()
    texts = synthetic_texts(args.chunks, rng)
    index = VectorIndex(embedder.dim)
    exact = faiss.IndexFlatIP(embedder.dim)
    for start in range(0, len(texts), 2048):
        vectors = embedder.embed(texts[start:start + 2048])
        index.add(np.arange(start, start + len(vectors), dtype=np.int64), vectors)
        exact.add(vectors)
        print(f"\r  embedded and indexed {start + len(vectors):,} / {len(texts):,}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    build_s = time.perf_counter() - started
    picks = rng.choice(len(texts), size=args.queries, replace=False)
    # A query is a chunk's first dozen words: near its chunk but not identical, like a visitor's question.
    queries = embedder.embed([" ".join(texts[i].split()[:12]) for i in picks])
    exact_ms, exact_ids = timed(exact.search, queries, 5)
    approx_ms, approx_ids = timed(index.search, queries, 5)
    recall = float(np.mean([len(set(a) & set(e)) / 5 for a, e in zip(approx_ids, exact_ids, strict=True)]))
    rows = [("exact (IndexFlatIP), baseline", exact_ms), (f"Switchboard index ({index.kind}, nprobe {NPROBE})", approx_ms)]
    print(f"\n{args.chunks:,} chunks, {embedder.dim} dimensions, {args.queries} single queries, "
          f"1 thread; built in {build_s:.1f} s (exact below {APPROX_ABOVE:,} vectors)")
    print(f"{'index':<42}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for label, lat in rows:
        print(f"{label:<42}{statistics.median(lat):>10.2f}{np.percentile(lat, 99):>10.2f}{max(lat):>10.2f}")
    p99 = float(np.percentile(approx_ms, 99))
    verdict = "ok" if p99 < P99_TARGET_MS else "MISS"
    print(f"p99 target < {P99_TARGET_MS:g} ms: {verdict}; recall@5 against exact {recall:.3f}; "
          f"speed-up at p99 {np.percentile(exact_ms, 99) / p99:.1f}x")
    print(orjson.dumps({"chunks": args.chunks, "dim": embedder.dim, "kind": index.kind, "p99_ms": round(p99, 3),
                        "p50_ms": round(statistics.median(approx_ms), 3),
                        "exact_p99_ms": round(float(np.percentile(exact_ms, 99)), 3), "recall_at_5": round(recall, 4),
                        "build_s": round(build_s, 1), "met": verdict == "ok"}).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
