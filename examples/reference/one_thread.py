"""Import first: one thread means one thread everywhere.

Debian's PyTorch hands matrix products to OpenBLAS, whose own threads torch.set_num_threads
does not govern: left alone they take both cores and spin, which made a run three times slower
when another program was busy. The variables must be set before numpy or torch is imported:
OpenBLAS reads them once, when it is loaded.
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
