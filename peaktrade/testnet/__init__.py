"""Testnet: budgets, profiles and the orchestrator that runs a profile against Kraken validate-only
endpoints or the local simulator (see docs/testnet.md)."""

from peaktrade.testnet.budget import (
    BudgetCheck,
    BudgetExceeded,
    BudgetLimits,
    BudgetStoreError,
    DuplicateClientOrderId,
    TestnetBudget,
)
from peaktrade.testnet.executor import TestnetExecutor
from peaktrade.testnet.orchestrator import (
    MODES,
    TestnetError,
    TestnetResult,
    budget_from_config,
    build_client,
    get_profile,
    run_notebook,
    run_testnet_session,
    testnet_guard,
)

__all__ = [
    "MODES",
    "BudgetCheck",
    "BudgetExceeded",
    "BudgetLimits",
    "BudgetStoreError",
    "DuplicateClientOrderId",
    "TestnetBudget",
    "TestnetError",
    "TestnetExecutor",
    "TestnetResult",
    "budget_from_config",
    "build_client",
    "get_profile",
    "run_notebook",
    "run_testnet_session",
    "testnet_guard",
]
