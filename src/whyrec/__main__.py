"""``python -m whyrec``: the command line (torchrun launches distributed training this way)."""

from whyrec.cli import main

main()
