"""Data files the tests read, all shipped under tests/data/ (see tests/data/README.md)."""

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
# Fader & Hardie's CDNOW sample: 6,919 purchases by 2,357 customers, 1997-01 to 1998-06.
CDNOW_SAMPLE = DATA / "cdnow" / "CDNOW_sample.txt"
