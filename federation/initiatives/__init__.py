"""Initiatives and funding leads: kept by coordinators, listed with consent, shared with peers."""
