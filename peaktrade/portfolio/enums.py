"""Record dtypes and integer constants of the portfolio kernels."""

from __future__ import annotations

import numpy as np

#: One fill of the portfolio simulation (``side`` +1 buy, -1 sell; ``price`` incl. slippage).
order_dt = np.dtype(
    [
        ("id", np.int64),
        ("idx", np.int64),  # bar index
        ("col", np.int64),  # asset index
        ("side", np.int64),
        ("size", np.float64),  # base units (> 0)
        ("price", np.float64),
        ("fees", np.float64),
    ],
    align=True,
)

# Why an order was not filled (the kernel counts them; the pandas layer reports the counts)
SKIP_MIN_SIZE = 0  # below the asset's minimum order size
SKIP_NO_CASH = 1  # a buy with no cash left (or not enough to cover the fixed fee)
SKIP_NO_BAR = 2  # the asset has no bar here (never traded on a bar it does not have)
N_SKIP = 3
SKIP_NAMES = ("min_size", "no_cash", "no_bar")
