# Shortcuts; scripts/ and bench/ hold the real commands.
.PHONY: bench bench-quick

bench:
	bench/run

bench-quick:
	bench/run --quick

.PHONY: soak soak-quick
soak:
	bench/soak

soak-quick:
	bench/soak --quick
