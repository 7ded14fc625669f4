"""Advice across borders: shared offers, the booker's side, the adviser's side, the money, their pages."""
