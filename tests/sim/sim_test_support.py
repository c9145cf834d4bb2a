"""Constants shared by the simulator tests (a uniquely named module, importable from the tests)."""

KEY = "sim-test-key"
SECRET = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="  # 32 bytes of 0x01, base64 (Kraken's golden-vector secret)
START = "2024-01-01"
