"""`python -m govern.cli`: what `govern serve` starts its notification dispatcher with."""

from govern.cli import main

main()
