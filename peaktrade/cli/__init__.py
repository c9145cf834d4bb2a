"""The ``peaktrade`` command. One module per command group; no logic of its own."""
