"""Membership cards: card numbers, the codes their QR carries, issuing, replacing and blocking."""
