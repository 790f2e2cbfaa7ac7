#!/usr/bin/python3
"""How hard is the held-out tail? Bits per character of simple n-gram models on it.

Counts character n-grams in the training part of a text (everything but the held-out tail,
cut as examples/char_rnn cuts it) and predicts each held-out character from the n-1 before it,
with add-k smoothing over the text's alphabet. A baseline for char_rnn's held-out figure.

    /usr/bin/python3 examples/reference/ngram_bpc.py                    # GPL-3, 10% held out
    /usr/bin/python3 examples/reference/ngram_bpc.py --text FILE --holdout 0.05
"""
import argparse
import collections
import math


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--text", default="/usr/share/common-licenses/GPL-3")
    ap.add_argument("--holdout", type=float, default=0.1)
    ap.add_argument("--k", type=float, default=0.1, help="add-k smoothing")
    ap.add_argument("--max-n", type=int, default=5)
    a = ap.parse_args()
    raw = open(a.text, "rb").read()
    held = int(len(raw) * a.holdout)
    train, tail = raw[:len(raw) - held], raw[len(raw) - held:]
    V = len(set(raw))
    print(f"{a.text}: {len(raw)} characters, {V} different, {held} held out")
    for n in range(1, a.max_n + 1):
        grams, contexts = collections.Counter(), collections.Counter()
        for i in range(n - 1, len(train)):
            grams[train[i - n + 1:i + 1]] += 1
            contexts[train[i - n + 1:i]] += 1
        bits = 0.0
        for i in range(n - 1, len(tail)):
            p = (grams[tail[i - n + 1:i + 1]] + a.k) / (contexts[tail[i - n + 1:i]] + a.k * V)
            bits -= math.log2(p)
        print(f"{n}-gram: held-out {bits / (len(tail) - n + 1):.3f} bits per character")


if __name__ == "__main__":
    main()
