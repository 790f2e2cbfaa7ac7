#!/usr/bin/python3
"""The same training as examples/fashion_cnn, in PyTorch, for a side-by-side comparison.

Same net (conv 32 3x3 - relu - max pool 2 - conv 64 3x3 - relu - max pool 2 - dense 128 - relu -
dense 10, softmax cross-entropy), same initialisation rule (He uniform, U[-s, s] with
s = sqrt(6 / fan_in), fan_in = C*K*K for a convolution; biases 0), same optimiser (Adam by
default, or SGD with momentum), the same learning-rate decay per epoch, batch size and epochs,
the same inputs ((pixel/255 - mean) / sd with the training pixels' mean and sd), one thread.
Shuffling and initial weights come from PyTorch's generator, so the figures match in level,
not digit for digit.

    /usr/bin/python3 examples/reference/fashion_cnn.py            # the C example's defaults

Prints one line per epoch and `result: test_acc=... epochs=N seconds_per_epoch=S` (training
time only, as the C program reports it).
"""
import one_thread  # noqa: F401  (first: it pins OpenBLAS to one thread before numpy loads it)

import argparse
import time

import torch

from fashion_mnist import load


def he_uniform(layer, fan_in):
    s = (6.0 / fan_in) ** 0.5
    torch.nn.init.uniform_(layer.weight, -s, s)
    torch.nn.init.zeros_(layer.bias)
    return layer


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--optim", default="adam", choices=["sgd", "adam"])
    ap.add_argument("--lr", type=float, default=0.0)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--lr-decay", type=float, default=0.8)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--train-size", type=int, default=0)
    ap.add_argument("--test-size", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    lr = a.lr or (0.001 if a.optim == "adam" else 0.02)

    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    xtr, ytr, (mean, sd) = load(a.data, "train", a.train_size)
    xte, yte, _ = load(a.data, "t10k", a.test_size, (mean, sd))
    xtr, xte = xtr.reshape(-1, 1, 28, 28), xte.reshape(-1, 1, 28, 28)

    nn = torch.nn
    net = nn.Sequential(
        he_uniform(nn.Conv2d(1, 32, 3), 1 * 9), nn.ReLU(), nn.MaxPool2d(2),
        he_uniform(nn.Conv2d(32, 64, 3), 32 * 9), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        he_uniform(nn.Linear(64 * 5 * 5, 128), 64 * 5 * 5), nn.ReLU(),
        he_uniform(nn.Linear(128, 10), 128))
    if a.optim == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=lr)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=a.momentum)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=a.lr_decay)
    lossf = nn.CrossEntropyLoss()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread; the fashion_cnn net, "
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
            right = sum((net(xte[s:s + 250]).argmax(1) == yte[s:s + 250]).sum().item()
                        for s in range(0, len(xte), 250))
            acc = right / len(xte)
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
