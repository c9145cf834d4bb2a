"""The strategy contract (base.py) is the bottom of strategies/: nothing in it reaches back to the registry."""

from __future__ import annotations

import grimp


def test_import_graph_when_built_then_no_module_of_strategies_is_in_a_cycle():
    g = grimp.build_graph("peaktrade")
    modules = sorted(m for m in g.modules if m.startswith("peaktrade.strategies."))
    cycles = [(a, b) for a in modules for b in g.find_modules_directly_imported_by(a)
              if b.startswith("peaktrade.strategies.") and g.find_shortest_chain(importer=b, imported=a)]
    assert cycles == []
    assert g.find_shortest_chain(importer="peaktrade.strategies.base", imported="peaktrade.strategies.registry") is None
