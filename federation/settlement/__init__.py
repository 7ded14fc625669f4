"""Clearing rounds: taking part, running a round, talking to participants, the coordinators' pages."""
