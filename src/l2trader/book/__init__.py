"""Order book: numba replay kernel, book frame (C2), stateful OrderBook and ReferenceBook."""
