# Sourced by lil's scripts: the environment lil runs in.
# LibTorch's CPU kernels run on OpenBLAS; one thread per process avoids oversubscription with LibTorch's
# own intra-op pool (and is ~5x faster than the reference BLAS Debian falls back to without it).
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
