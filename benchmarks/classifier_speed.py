"""Per-epoch training speed of the founding document's recipe: artgen vs the plain PyTorch way.

Recipe: 60,000 images of 28x28, 10 classes, Flatten -> Dense(128, ReLU) -> Dense(10),
Adam (lr 1e-3), cross-entropy, batch 32.

Baseline ("the plain PyTorch way"): TensorDataset + DataLoader(batch_size=32,
shuffle=True), the same model built from nn.Sequential, torch.optim.Adam, and the
textbook zero_grad / backward / step loop.

artgen: ``artgen.Classifier().compile("adam", "cross_entropy", ["accuracy"]).fit(...)``,
which also computes accuracy each step and keeps a History.

Both run in this one process on the same device, alternating, on the same data
(the built-in "shapes" set, MNIST-sized; pass --mnist-root DIR to use MNIST files).

    python -m benchmarks.classifier_speed [--device cpu|cuda] [--epochs 3] [--full-epochs 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

import artgen
from artgen.data import load_dataset
from artgen.device import resolve_device, synchronize
from benchmarks._results import machine_info, write_rows


def baseline_epoch(x, y, device, state):
    model, opt = state
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True)
    model.train()
    for xb, yb in loader:
        xb, yb = xb.to(device), yb.to(device)
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
    synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per contender (alternating)")
    parser.add_argument(
        "--full-epochs", type=int, default=0, help="also time artgen's full 10-epoch recipe and report test accuracy"
    )
    parser.add_argument(
        "--mnist-root", default=None, help="folder with MNIST files (torchvision layout) to use instead of shapes"
    )
    args = parser.parse_args()
    device = resolve_device(args.device)
    name = "mnist" if args.mnist_root else "shapes"
    x, y, _ = load_dataset(name, train=True, root=args.mnist_root)
    xt, yt, _ = load_dataset(name, train=False, root=args.mnist_root)
    info = machine_info(device=str(device))
    print(
        f"device: {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    print(f"data: {name}, train {tuple(x.shape)}, test {tuple(xt.shape)}")

    torch.manual_seed(0)
    base_model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)).to(device)
    base_state = (base_model, torch.optim.Adam(base_model.parameters(), lr=1e-3))
    clf = artgen.Classifier(device=device, seed=0)
    clf.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])

    base_times, ours_times = [], []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        baseline_epoch(x, y, device, base_state)
        base_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        clf.fit(x, y, epochs=1, batch_size=32, progress=False)
        synchronize(device)
        ours_times.append(time.perf_counter() - t0)
    b, o = statistics.median(base_times), statistics.median(ours_times)
    print(f"{'':24s}{'s/epoch (median)':>18s}  {'all epochs':>30s}")
    print(f"{'plain PyTorch':24s}{b:18.3f}  {', '.join(f'{t:.2f}' for t in base_times):>30s}")
    print(f"{'artgen':24s}{o:18.3f}  {', '.join(f'{t:.2f}' for t in ours_times):>30s}")
    print(f"speed-up: {b / o:.2f}x")
    rows = [
        {
            "contender": "plain PyTorch (TensorDataset + DataLoader)",
            "data": name,
            "s_per_epoch_median": round(b, 3),
            "epochs_s": [round(t, 3) for t in base_times],
        },
        {
            "contender": "artgen",
            "data": name,
            "s_per_epoch_median": round(o, 3),
            "epochs_s": [round(t, 3) for t in ours_times],
            "speed_up": round(b / o, 2),
        },
    ]

    if args.full_epochs:
        clf = artgen.Classifier(device=device, seed=0)
        clf.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
        t0 = time.perf_counter()
        clf.fit(x, y, epochs=args.full_epochs, batch_size=32, progress=False)
        synchronize(device)
        total = time.perf_counter() - t0
        result = clf.evaluate(xt, yt)
        print(f"artgen {args.full_epochs} epochs: {total:.2f} s, test accuracy {result['accuracy']:.4f}")
        rows.append(
            {
                "contender": f"artgen, {args.full_epochs} epochs",
                "data": name,
                "total_s": round(total, 2),
                "test_accuracy": round(result["accuracy"], 4),
            }
        )
    write_rows("classifier_speed", rows, machine=info, settings=vars(args))


if __name__ == "__main__":
    main()
