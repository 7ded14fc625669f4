"""Cross-border payments: transfers, the payee check before paying, and their statement lines."""
