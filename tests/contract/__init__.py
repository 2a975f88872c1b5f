"""Contract test: recorded emulator traffic checked against Procore's published contract."""
