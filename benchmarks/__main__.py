"""python -m benchmarks: run the benchmark suite.

For now the suite measures the call overhead (benchmarks/call_overhead.py); the
kernel families (BLAS 1/2/3, stencils, reductions) come with the benchmark-suite
issue.
"""

import sys

from . import call_overhead

if __name__ == "__main__":
    call_overhead.main(sys.argv[1:])
