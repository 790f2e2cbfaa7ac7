#!/usr/bin/python3
"""The same training as examples/fashion_mnist, in PyTorch, for a side-by-side comparison.

Same net (784-256-10 by default, relu hidden units, linear outputs, softmax cross-entropy),
same initialisation rule (He uniform for relu, Xavier uniform otherwise; biases 0), same
optimiser settings (PyTorch's SGD with momentum is the paper's rule dw = -lr g + alpha dw as
long as the rate is constant), the same learning-rate decay per epoch, batch size and epochs,
the same inputs ((pixel/255 - mean) / sd with the training pixels' mean and sd), one thread. Shuffling and initial weights
come from PyTorch's generator, so the figures match in level, not digit for digit.

    /usr/bin/python3 examples/reference/fashion_mnist.py            # the C example's defaults
    /usr/bin/python3 examples/reference/fashion_mnist.py --optim adam

Prints one line per epoch and `result: test_acc=... epochs=N seconds_per_epoch=S` (training
time only, as the C program reports it).
"""
import one_thread  # noqa: F401  (first: it pins OpenBLAS to one thread before numpy loads it)

import argparse
import gzip
import os
import time

import numpy as np
import torch


def read_idx(path):
    """An IDX file (plain or .gz) as a numpy array."""
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise SystemExit(f"{path}: not a u8 IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise SystemExit(f"{path}: dimensions {dims} disagree with the size")
    return data.reshape(dims)


def find(directory, base):
    for name in (base, base + ".gz"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise SystemExit(f"no {base}[.gz] in {directory}: sudo apt-get install dataset-fashion-mnist")


def load(directory, prefix, limit, stats=None):
    """The first `limit` images (all when 0), standardised with the mean and sd of all the
    file's pixels (or with `stats`); returns images, labels, (mean, sd)."""
    x = read_idx(find(directory, f"{prefix}-images-idx3-ubyte"))
    y = read_idx(find(directory, f"{prefix}-labels-idx1-ubyte"))
    x = torch.from_numpy(x.reshape(len(x), -1).astype(np.float32) / 255.0)
    if stats is None:
        stats = (x.double().mean().item(), x.double().std(unbiased=False).item())
    if limit:
        x, y = x[:limit], y[:limit]
    return (x - stats[0]) / stats[1], torch.from_numpy(y.astype(np.int64)), stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--layers", default="784-256-10")
    ap.add_argument("--act", default="relu", choices=["relu", "tanh", "sigmoid"])
    ap.add_argument("--optim", default="sgd", choices=["sgd", "adam"])
    ap.add_argument("--lr", type=float, default=0.0)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--lr-decay", type=float, default=0.8)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--train-size", type=int, default=0)
    ap.add_argument("--test-size", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    lr = a.lr or (0.001 if a.optim == "adam" else 0.02)

    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    xtr, ytr, (mean, sd) = load(a.data, "train", a.train_size)
    xte, yte, _ = load(a.data, "t10k", a.test_size, (mean, sd))

    sizes = [int(s) for s in a.layers.split("-")]
    act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}[a.act]
    layers = []
    for i in range(len(sizes) - 1):
        lin = torch.nn.Linear(sizes[i], sizes[i + 1])
        fan_in, fan_out = sizes[i], sizes[i + 1]
        s = (6.0 / fan_in) ** 0.5 if a.act == "relu" else (6.0 / (fan_in + fan_out)) ** 0.5
        torch.nn.init.uniform_(lin.weight, -s, s)
        torch.nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(act())
    net = torch.nn.Sequential(*layers)
    if a.optim == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=lr)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=a.momentum)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=a.lr_decay)
    lossf = torch.nn.CrossEntropyLoss()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread; net {a.layers} {a.act}, "
          f"{a.optim} lr {lr}" + (f" momentum {a.momentum}" if a.optim == "sgd" else "")
          + f" (lr x {a.lr_decay} each epoch), batch {a.batch}, {a.epochs} epochs, "
          f"{len(xtr)} training images, inputs (pixel/255 - {mean:.4f}) / {sd:.4f}")
    train_seconds = 0.0
    acc = 0.0
    for e in range(a.epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(xtr))
        loss_sum, wrong = 0.0, 0
        net.train()
        for start in range(0, len(xtr), a.batch):
            idx = order[start:start + a.batch]
            x, y = xtr[idx], ytr[idx]
            logits = net(x)
            loss = lossf(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            wrong += (logits.argmax(1) != y).sum().item()
        t1 = time.perf_counter()
        with torch.no_grad():
            acc = (net(xte).argmax(1) == yte).float().mean().item()
        t2 = time.perf_counter()
        train_seconds += t1 - t0
        sched.step()
        print(f"epoch {e + 1:2d}/{a.epochs}  train loss {loss_sum / len(xtr):.4f}  "
              f"train error {100 * wrong / len(xtr):6.2f}%  test acc {acc:.4f}  "
              f"{t1 - t0:.2f} s ({len(xtr) / (t1 - t0):.0f} images/s)  test {t2 - t1:.2f} s",
              flush=True)
    print(f"result: test_acc={acc:.4f} epochs={a.epochs} seconds_per_epoch={train_seconds / a.epochs:.2f}")


if __name__ == "__main__":
    main()
