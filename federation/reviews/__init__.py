"""Cross-border reviews: shared reviewer pools, the proposer's side, the reviewer's side, their pages."""
