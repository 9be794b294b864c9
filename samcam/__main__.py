"""``python -m samcam`` (also what ``torchrun -m samcam`` runs)."""
import sys

from .cli import main

sys.exit(main())
