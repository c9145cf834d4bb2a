"""Live layer: paper replay, sessions (paper/shadow/testnet), run logs."""

from peaktrade.live.replay import SignalStepper, paper_replay

__all__ = ["SignalStepper", "paper_replay"]
