"""PyTorch reference for `make bench`: the same workloads as bench/workloads.c, in PyTorch.

The C driver starts one of these per thread count (with OMP_NUM_THREADS, OPENBLAS_NUM_THREADS
and OMP_WAIT_POLICY=PASSIVE set in the environment) and talks to it over stdin/stdout, one line
per request, so that its runs interleave with ours:

    (on start)      -> "ready VERSION"
    setup NAME      -> "ok" once the workload's model and data exist (or "error ...")
    run NAME STEPS  -> seconds per step, the mean over STEPS consecutive steps
    quit

Every training step is forward + backward + the momentum update (torch.optim.SGD with
momentum 0.9), single precision, random data from a fixed seed.
"""
import sys
import time

import torch
import torch.nn as nn


def warm_allocator():
    """Allocate and free 16 MB once, as a program that has loaded its data has done: glibc then
    raises its mmap threshold, so the megabytes of scratch that PyTorch's convolutions take and
    give back every step come from the heap instead of fresh zeroed pages. Without it the cnn
    step runs several times slower than in a real training loop (examples/reference)."""
    torch.zeros(1 << 22).add_(1.0)


def make(name):
    torch.manual_seed(1986)
    if name == "symmetry":
        x = torch.tensor([[float((p >> i) & 1) for i in range(6)] for p in range(64)])
        d = torch.tensor([[1.0 if all(((p >> i) & 1) == ((p >> (5 - i)) & 1) for i in range(3))
                           else 0.0] for p in range(64)])
        net = nn.Sequential(nn.Linear(6, 2), nn.Sigmoid(), nn.Linear(2, 1), nn.Sigmoid())
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)

        def step():
            opt.zero_grad()
            loss = 0.5 * ((net(x) - d) ** 2).sum()
            loss.backward()
            opt.step()
        return step
    if name == "family":
        person = torch.zeros(100, 24)
        person[torch.arange(100), torch.randint(0, 24, (100,))] = 1
        rel = torch.zeros(100, 12)
        rel[torch.arange(100), torch.randint(0, 12, (100,))] = 1
        d = (torch.rand(100, 24) < 0.1).float()
        enc_p = nn.Sequential(nn.Linear(24, 6), nn.Sigmoid())
        enc_r = nn.Sequential(nn.Linear(12, 6), nn.Sigmoid())
        rest = nn.Sequential(nn.Linear(12, 12), nn.Sigmoid(), nn.Linear(12, 6), nn.Sigmoid(),
                             nn.Linear(6, 24), nn.Sigmoid())
        params = list(enc_p.parameters()) + list(enc_r.parameters()) + list(rest.parameters())
        opt = torch.optim.SGD(params, lr=0.005, momentum=0.9)

        def step():
            opt.zero_grad()
            y = rest(torch.cat([enc_p(person), enc_r(rel)], dim=1))
            loss = 0.5 * ((y - d) ** 2).sum()
            loss.backward()
            opt.step()
        return step
    if name == "mlp":
        x = torch.rand(128, 784)
        labels = torch.randint(0, 10, (128,))
        net = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                            nn.Linear(256, 10))
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        lossf = nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss = lossf(net(x), labels)
            loss.backward()
            opt.step()
        return step
    if name == "rnn":
        T, B = 32, 32
        x = torch.rand(T, B, 64) * 2 - 1
        d = torch.rand(T, B, 128) - 0.5
        rnn = nn.RNN(64, 128, nonlinearity="tanh")
        opt = torch.optim.SGD(rnn.parameters(), lr=0.001, momentum=0.9)

        def step():
            opt.zero_grad()
            out, _ = rnn(x)
            loss = 0.5 * ((out - d) ** 2).sum()
            loss.backward()
            opt.step()
        return step
    if name == "cnn":
        warm_allocator()
        x = torch.rand(64, 1, 28, 28)
        labels = torch.randint(0, 10, (64,))
        net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                            nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        lossf = nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss = lossf(net(x), labels)
            loss.backward()
            opt.step()
        return step
    if name == "lstm":
        warm_allocator()
        T, B = 32, 32
        x = torch.rand(T, B, 64) * 2 - 1
        d = torch.rand(T, B, 128) - 0.5
        lstm = nn.LSTM(64, 128)
        opt = torch.optim.SGD(lstm.parameters(), lr=0.001, momentum=0.9)

        def step():
            opt.zero_grad()
            out, _ = lstm(x)
            loss = 0.5 * ((out - d) ** 2).sum()
            loss.backward()
            opt.step()
        return step
    if name in ("mlp_fwd", "mlp_infer", "rnn_fwd", "rnn_infer"):
        # the forward (with the loss) of mlp or rnn alone; _infer under torch.no_grad()
        base, kind = name.split("_")
        torch.manual_seed(1986)
        if base == "mlp":
            x = torch.rand(128, 784)
            labels = torch.randint(0, 10, (128,))
            net = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                                nn.Linear(256, 10))
            lossf = nn.CrossEntropyLoss()

            def forward():
                return lossf(net(x), labels)
        else:
            x = torch.rand(32, 32, 64) * 2 - 1
            d = torch.rand(32, 32, 128) - 0.5
            rnn = nn.RNN(64, 128, nonlinearity="tanh")

            def forward():
                out, _ = rnn(x)
                return 0.5 * ((out - d) ** 2).sum()

        def step():
            if kind == "infer":
                with torch.no_grad():
                    forward()
            else:
                forward()
        return step
    if name == "scalar_chain":
        a = torch.tensor(0.999, requires_grad=True)
        b = torch.tensor(0.001, requires_grad=True)

        def step():
            x = torch.tensor(1.0)
            for _ in range(50000):
                x = x * a + b
            x.backward()
            a.grad = None
            b.grad = None
        return step
    if name.startswith("matmul_"):
        shapes = {"matmul_512": (512, 512, 512, False, False),
                  "matmul_mlp1": (128, 512, 784, False, False),
                  "matmul_mlp2": (128, 256, 512, False, False),
                  "matmul_mlp3": (128, 10, 256, False, False),
                  "matmul_mlp1_tn": (784, 512, 128, True, False),
                  "matmul_mlp2_nt": (128, 512, 256, False, True)}
        M, N, K, ta, tb = shapes[name]
        a = torch.rand(K, M) if ta else torch.rand(M, K)
        b = torch.rand(N, K) if tb else torch.rand(K, N)
        if ta:
            a = a.t()
        if tb:
            b = b.t()

        def step():
            torch.mm(a, b)
        return step
    raise KeyError(name)


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    torch.set_num_threads(threads)
    steps = {}
    out = sys.stdout
    out.write("ready %s\n" % torch.__version__)
    out.flush()
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "quit":
                break
            if words[0] == "setup":
                steps[words[1]] = make(words[1])
                out.write("ok\n")
            elif words[0] == "run":
                step, n = steps[words[1]], int(words[2])
                t0 = time.perf_counter()
                for _ in range(n):
                    step()
                out.write("%.9f\n" % ((time.perf_counter() - t0) / n))
            else:
                out.write("error unknown request\n")
        except Exception as e:  # report, keep serving
            out.write("error %s\n" % str(e).replace("\n", " "))
        out.flush()


if __name__ == "__main__":
    main()
