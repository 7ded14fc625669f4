"""A national SIF node: members, ledger, advice exchange, proposals and reviews."""

__version__ = "0.1.0"
