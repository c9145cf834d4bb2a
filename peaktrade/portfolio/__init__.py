"""Multi-asset portfolios: allocation rules, rebalancing and one shared cash balance (or independent
sleeves), simulated in numba (``nb.py``) behind a thin pandas layer (``engine.py``).

    from peaktrade.portfolio import run_portfolio
    res = run_portfolio({"BTC/USD": btc, "ETH/USD": eth}, alloc="inverse_vol", rebalance="1W")
    res.stats(); res.weights; res.plot()
"""

from peaktrade.portfolio.alloc import ALLOCATORS, Allocation
from peaktrade.portfolio.engine import REBALANCE, align_bars, calendar_mask, run_portfolio
from peaktrade.portfolio.result import PORTFOLIO_KEYS, PortfolioResult
from peaktrade.portfolio.synthetic import synthetic_universe
from peaktrade.portfolio.universe import load_universe

__all__ = ["ALLOCATORS", "PORTFOLIO_KEYS", "REBALANCE", "Allocation", "PortfolioResult", "align_bars", "calendar_mask",
           "load_universe", "run_portfolio", "synthetic_universe"]
