"""t-SNE of test-set latents: VAE Lab's embed_2d (openTSNE, FFT gradients) against scikit-learn's default TSNE.

    VAE_DATA_DIR=../shared/data python bench/embedding_speed.py                       # 2,000 and 10,000 points
    VAE_DATA_DIR=../shared/data python bench/embedding_speed.py --points 10000 --repeats 3

Both embed the same posterior means of a shipped run (default: mlp-d20-b1 on the MNIST test set).
Quality is the leave-one-out 5-NN label accuracy in the 2-D embedding.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vae.analysis.latents import embed_2d, encode_mu, knn_accuracy
from vae.data.datasets import load_dataset
from vae.runfile import load_run


def timed(fn, repeats: int) -> tuple[float, np.ndarray]:
    times, result = [], None
    for _ in range(repeats):
        began = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="mlp-d20-b1")
    parser.add_argument("--points", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from sklearn.manifold import TSNE

    run = load_run(ROOT / "checkpoints" / f"{args.run}.pt")
    data = load_dataset(run.config.dataset)
    mu = encode_mu(run.model, data.test_x).numpy()
    labels = data.test_y.numpy()
    print(f"{args.run} on {data.name}: {mu.shape[0]} test latents of dimension {mu.shape[1]}, median of {args.repeats}")
    for n in args.points:
        x, y = mu[:n], labels[:n]
        t_sk, e_sk = timed(lambda x=x: TSNE(random_state=0).fit_transform(x), args.repeats)
        t_ours, e_ours = timed(lambda x=x: embed_2d(x, "tsne", seed=0), args.repeats)
        t_pca, e_pca = timed(lambda x=x: embed_2d(x, "pca"), args.repeats)
        acc_sk, acc_ours, acc_pca = (knn_accuracy(e, y) for e in (e_sk, e_ours, e_pca))
        print(
            f"n={n:6d}  sklearn TSNE {t_sk:6.2f} s (5-NN {acc_sk:.3f})  |  VAE Lab t-SNE {t_ours:6.2f} s "
            f"(5-NN {acc_ours:.3f})  ratio {t_ours / t_sk:.2f} (target <= 0.5), accuracy gap "
            f"{100 * (acc_ours - acc_sk):+.1f} pt  |  PCA {t_pca:.3f} s (5-NN {acc_pca:.3f})"
        )


if __name__ == "__main__":
    main()
