#!/usr/bin/python3
"""The same training as examples/char_rnn, in PyTorch, for a side-by-side comparison.

Same net (one-hot input, a recurrent layer h' = f(h W + x U + b) with tanh or sigmoid units,
or with --cell lstm / gru torch.nn.LSTM / torch.nn.GRU, a linear readout and softmax
cross-entropy), same initialisation rule (Xavier uniform, biases 0; a gated cell's weights with
fan_in their rows and fan_out one gate's width, as nn_lstm_new and nn_gru_new do), same truncated back-propagation through time (the training text cut into --batch
streams, --seq characters a step, the state carried over as data), same optimiser and
gradient-norm clipping, same held-out tail and the same measure (bits per character predicted
one character at a time from a zero state), one thread.

    /usr/bin/python3 examples/reference/char_rnn.py          # the C example's defaults
    /usr/bin/python3 examples/reference/char_rnn.py --cell lstm

Prints the training and held-out bits per character at each check and
`result: bpc=X steps=N seconds=S`.
"""
import one_thread  # noqa: F401  (first: it pins OpenBLAS to one thread before torch loads it)

import argparse
import math
import os
import stat
import time

import torch


class Net(torch.nn.Module):
    def __init__(self, V, H, act):
        super().__init__()
        self.U = torch.nn.Parameter(torch.empty(V, H))
        self.W = torch.nn.Parameter(torch.empty(H, H))
        self.b = torch.nn.Parameter(torch.zeros(1, H))
        self.readout = torch.nn.Linear(H, V)
        for w, (fi, fo) in ((self.U, (V, H)), (self.W, (H, H)), (self.readout.weight, (H, V))):
            s = math.sqrt(6.0 / (fi + fo))
            torch.nn.init.uniform_(w, -s, s)
        torch.nn.init.zeros_(self.readout.bias)
        self.f = torch.tanh if act == "tanh" else torch.sigmoid
        self.V, self.H = V, H

    def forward(self, codes, h):
        """codes (T, B) -> logits (T*B, V) and the last state (B, H)."""
        x = self.U[codes]  # the one-hot product x U is a row lookup
        hs = []
        for t in range(codes.shape[0]):
            z = x[t] + self.b if h is None else h @ self.W + x[t] + self.b
            h = self.f(z)
            hs.append(h)
        return self.readout(torch.cat(hs, 0)), h


class GatedNet(torch.nn.Module):
    """torch.nn.LSTM or torch.nn.GRU on one-hot input, then the linear readout. Its weight_ih_l0
    is the C cell's W_ih transposed (gates in the same order), so the init bounds are the same:
    U[-s, s], s = sqrt(6 / (rows + H)) with rows V for W_ih and H for W_hh."""

    def __init__(self, V, H, cell):
        super().__init__()
        self.rnn = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(V, H)
        for w, rows in ((self.rnn.weight_ih_l0, V), (self.rnn.weight_hh_l0, H)):
            s = math.sqrt(6.0 / (rows + H))
            torch.nn.init.uniform_(w, -s, s)
        torch.nn.init.zeros_(self.rnn.bias_ih_l0)
        torch.nn.init.zeros_(self.rnn.bias_hh_l0)
        self.readout = torch.nn.Linear(H, V)
        s = math.sqrt(6.0 / (H + V))
        torch.nn.init.uniform_(self.readout.weight, -s, s)
        torch.nn.init.zeros_(self.readout.bias)
        self.V, self.H = V, H

    def forward(self, codes, state):
        """codes (T, B) -> logits (T*B, V) and the last state (h, or (h, c) for the LSTM)."""
        x = torch.nn.functional.one_hot(codes, self.V).float()
        out, state = self.rnn(x, state)
        return self.readout(out.reshape(-1, self.H)), state


def detached(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def held_out_bpc(net, text, seq=256):
    nats, h = 0.0, None
    with torch.no_grad():
        for start in range(0, len(text) - 1, seq):
            T = min(seq, len(text) - 1 - start)
            logits, h = net(text[start:start + T].view(T, 1), h)
            nats += torch.nn.functional.cross_entropy(logits, text[start + 1:start + T + 1],
                                                      reduction="sum").item()
    return nats / (len(text) - 1) / math.log(2)


def read_text(path, holdout):
    """The bytes at path as (training, held out), as examples/char_rnn reads them: a file's
    held-out text is its last `holdout` fraction; a directory's is the last fraction of each of
    its regular files (name order, links skipped), the tails joined in that order."""
    if os.path.isdir(path):
        names = sorted(os.path.join(path, n) for n in os.listdir(path))
        names = [n for n in names if stat.S_ISREG(os.lstat(n).st_mode)]
    else:
        names = [path]
    train, tail = b"", b""
    for name in names:
        raw = open(name, "rb").read()
        held = int(len(raw) * holdout)
        train += raw[:len(raw) - held]
        tail += raw[len(raw) - held:]
    return train, tail


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--text", default="/usr/share/common-licenses")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--act", default="tanh", choices=["tanh", "sigmoid"])
    ap.add_argument("--cell", default="elman", choices=["elman", "lstm", "gru"])
    ap.add_argument("--seq", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--weight-decay", type=float, default=0.0001)
    ap.add_argument("--holdout", type=float, default=0.1)
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)

    train_bytes, tail_bytes = read_text(a.text, a.holdout)
    raw = train_bytes + tail_bytes
    alphabet = sorted(set(raw))
    index = {b: i for i, b in enumerate(alphabet)}
    code = torch.tensor([index[b] for b in raw], dtype=torch.long)
    held = len(tail_bytes)
    train, tail = code[:len(code) - held], code[len(code) - held:]
    per_stream = len(train) // a.batch
    streams = train[:per_stream * a.batch].view(a.batch, per_stream)

    if a.cell == "elman":
        net = Net(len(alphabet), a.hidden, a.act)
    else:
        net = GatedNet(len(alphabet), a.hidden, a.cell)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread; {len(code)} characters, "
          f"{len(alphabet)} different, {held} held out; {a.hidden} {a.act if a.cell == 'elman' else a.cell.upper()} units, "
          f"{a.batch} streams x {a.seq}, adam lr {a.lr}, weight decay {a.weight_decay}, "
          f"clip {a.clip}")
    pos, h, bits, count, t0, bpc = 0, None, 0.0, 0, time.perf_counter(), float("nan")
    for step in range(1, a.steps + 1):
        if pos + a.seq + 1 > per_stream:
            pos, h = 0, None
        chunk = streams[:, pos:pos + a.seq + 1].t()  # (seq+1, B)
        logits, h_last = net(chunk[:-1], h)
        loss = torch.nn.functional.cross_entropy(logits, chunk[1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), a.clip)
        opt.step()
        if a.weight_decay:
            with torch.no_grad():
                for p in net.parameters():
                    p.mul_(1.0 - a.weight_decay)
        h = detached(h_last)
        pos += a.seq
        bits += loss.item() / math.log(2)
        count += 1
        if step % a.eval_every == 0 or step == a.steps:
            bpc = held_out_bpc(net, tail)
            secs = time.perf_counter() - t0
            print(f"step {step:6d}/{a.steps}  train {bits / count:.3f} bpc  held-out {bpc:.3f} bpc"
                  f"  {secs:.1f} s  ({step * a.seq * a.batch / secs:.0f} chars/s)", flush=True)
            bits, count = 0.0, 0
    print(f"result: bpc={bpc:.3f} steps={a.steps} seconds={time.perf_counter() - t0:.1f}")


if __name__ == "__main__":
    main()
