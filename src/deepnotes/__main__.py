"""``python -m deepnotes ...`` — the ``deepnotes`` command, also under
``torchrun --nproc_per_node=N -m deepnotes run NAME ...`` (data-parallel training)."""

from .cli import main

main()
